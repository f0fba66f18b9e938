/*
 * The C side of moonport's Lua bridge.
 *
 * lua_error and lua_yield leave a C function with longjmp. A longjmp over a
 * Swift frame skips Swift's cleanup, so Swift never calls them: every Swift
 * function reaches Lua through mp_trampoline, which calls the Swift entry
 * point and then raises or suspends on its behalf (see MP_RAISE /
 * MP_SUSPEND).
 *
 * Suspend is the one word for a Swift call that waits for the host: the
 * Swift function returns MP_SUSPEND, the trampoline yields the suspend
 * marker out of the coroutine, the runtime keeps a Suspension until the
 * host work ends, then resumes the coroutine, and moonport_swift_deliver
 * pushes the call's results. Whether a caller can be suspended is decided in
 * one place, LuaRuntime.checkCanSuspend.
 *
 * The other longjmp is Lua's out-of-memory error, which any allocating API
 * call (lua_pushlstring, lua_createtable, lua_rawset, luaL_ref,
 * lua_newthread, ...) can raise. Moonport's allocator (mp_heap_install)
 * knows whether Swift is the innermost code running on the state: the shim
 * records it at every crossing (the trampoline and Swift's __gc functions
 * enter Swift; mp_resume, mp_pcall_traceback, mp_safe_tostring and mp_load
 * enter Lua under a protected call). An allocation that fails (malloc
 * fails, or the heap would pass MOONPORT_LUA_MEMORY_LIMIT_MB) then
 *  - under Lua: returns NULL, so Lua raises its usual catchable
 *    "not enough memory" error, caught by a protected call made in C;
 *  - under Swift: never returns. The process stops with
 *    "moonport: out of memory in the Lua state (N MiB); stopping" and exit
 *    code 1: no error can unwind through a Swift frame. (Running each
 *    allocating call from Swift under lua_pcall instead would mean a C
 *    helper per API function and a protected call per push; an allocator
 *    covers every call, including the ones Swift makes outside any Lua
 *    call, where Lua would only panic.) Swift-side allocations get no
 *    emergency collection first, so under a limit they stop the process
 *    once the heap, garbage included, reaches the limit.
 *
 * The static inline functions below wrap the Lua macros that Swift cannot
 * import.
 */
#ifndef MOONPORT_SHIM_H
#define MOONPORT_SHIM_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>

/* What a Swift function returns instead of a result count. */
#define MP_RAISE (-1) /* an error object was pushed: raise it */
#define MP_SUSPEND (-2) /* host work started: suspend the calling coroutine */

/* ---- Swift entry points (defined with @_cdecl in LuaBridge) ---- */

/* Runs the Swift function whose context is upvalue 1 of the running C closure. */
int moonport_swift_call(lua_State *L);
/* Pushes the results of the suspended call whose host work ended. */
int moonport_swift_deliver(lua_State *L);

/* ---- The trampoline and the suspend protocol ---- */

/* The lua_CFunction behind every Swift function (upvalue 1: its context). */
int mp_trampoline(lua_State *L);
/* Pushes the value a coroutine yields when a Swift call suspends it. */
void mp_push_suspend_marker(lua_State *L);
/* Is the value at idx the suspend marker? */
int mp_is_suspend_marker(lua_State *L, int idx);
/* Replaces coroutine.resume and coroutine.wrap with versions that pass the
 * suspension of an inner coroutine on to the coroutine that resumed it, so
 * that blocking calls work inside coroutines the script makes itself. */
void mp_patch_coroutine_library(lua_State *L);
/* Marks co as a coroutine the host drives (see shim.c). */
void mp_mark_root(lua_State *L, lua_State *co);

/* ---- The Lua heap (see the top of this file) ---- */

/* Puts moonport's allocator under L, a state just made by luaL_newstate
 * (which keeps lauxlib's panic and warning functions); limit_bytes 0: no
 * limit. Returns 0 when the heap record cannot be allocated. */
int mp_heap_install(lua_State *L, size_t limit_bytes);
/* lua_close, then frees the heap record. */
void mp_heap_close(lua_State *L);
/* Swift runs on L from now on (returns what to pass to mp_swift_leave). */
int mp_swift_enter(lua_State *L);
void mp_swift_leave(lua_State *L, int previous);

/* ---- Protected helpers (Lua code runs: the heap knows it) ---- */

/* lua_resume of co, from Swift. */
int mp_resume(lua_State *co, lua_State *from, int nargs, int *nres);
/* luaL_loadbufferx: the parser runs protected; failures are a status. */
int mp_load(lua_State *L, const char *buf, size_t len, const char *name, const char *mode);

/* lua_pcall with a message handler that appends a traceback (as lua.c). */
int mp_pcall_traceback(lua_State *L, int nargs, int nresults);
/* Converts the value at the top of L (an error object) to a message with
 * __tostring, protected, and replaces it with "message\n" + traceback of co
 * (co may be L). Always leaves exactly one string. */
void mp_error_with_traceback(lua_State *L, lua_State *co);
/* tostring() of the value at idx, protected: pushes a string and returns 1,
 * or pushes the error message and returns 0. */
int mp_safe_tostring(lua_State *L, int idx);
/* The file:line of the Lua function at the given level (luaL_where), pushed. */
void mp_where(lua_State *L, int level);

/* ---- Ctrl-C: only a flag, a hook and a wake-up, as lua.c does ---- */

/* Installs the SIGINT handler (no SA_RESTART); each Ctrl-C posts to wake. */
void mp_sigint_install(void *wake);
/* `moonport run`: SIGTERM handled as SIGINT is, and a second of either
   signal ends the process at once (exit 128 + signal). */
void mp_sigterm_install(void);
int mp_last_signal(void);      /* the last SIGINT/SIGTERM seen (0: none) */
int mp_sigint_take(void);      /* 1 if SIGINT arrived since the last call (clears it) */
void mp_set_running(lua_State *L); /* the coroutine that runs now (or NULL) */

/* ---- Wake-ups for an owner's event loop (post is async-signal-safe) ---- */
void *mp_wake_new(void);
void mp_wake_free(void *wake);
void mp_wake_post(void *wake);
/* Waits for a post: 1 when woken (or a signal arrived), 0 on time-out
 * (timeout_seconds < 0 waits for ever). */
int mp_wake_wait(void *wake, double timeout_seconds);

/* ---- Macro wrappers ---- */
static inline int mp_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int mp_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void mp_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void mp_insert(lua_State *L, int idx) { lua_insert(L, idx); }
static inline void mp_remove(lua_State *L, int idx) { lua_remove(L, idx); }
static inline void mp_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline int mp_getmetatable_named(lua_State *L, const char *name) { return luaL_getmetatable(L, name); }
static inline void *mp_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
static inline int mp_isnoneornil(lua_State *L, int idx) { return lua_isnoneornil(L, idx); }
static inline const char *mp_tolstring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
static inline lua_Integer mp_tointeger(lua_State *L, int idx, int *isnum) { return lua_tointegerx(L, idx, isnum); }
static inline void mp_pushcclosure(lua_State *L, int n) { lua_pushcclosure(L, mp_trampoline, n); }
static inline void **mp_extraspace(lua_State *L) { return (void **)lua_getextraspace(L); }
/* Generational mode, as the stock lua.c interpreter sets it. */
static inline void mp_gc_generational(lua_State *L) { lua_gc(L, LUA_GCGEN, 0, 0); }

#endif
