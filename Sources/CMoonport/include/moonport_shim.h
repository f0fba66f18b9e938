/*
 * The C side of moonport's Lua bridge.
 *
 * lua_error and lua_yield leave a C function with longjmp. A longjmp over a
 * Swift frame skips Swift's cleanup, so Swift never calls them: every Swift
 * function reaches Lua through mp_trampoline, which calls the Swift entry
 * point and then raises or yields on its behalf (see MP_RAISE / MP_YIELD).
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

/* Sentinels a Swift function returns instead of a result count. */
#define MP_RAISE (-1) /* an error object was pushed: raise it */
#define MP_YIELD (-2) /* async work started: suspend the calling coroutine */

/* ---- Swift entry points (defined with @_cdecl in LuaBridge) ---- */

/* Runs the Swift function whose context is upvalue 1 of the running C closure. */
int moonport_swift_call(lua_State *L);
/* Pushes the outcome of the host operation this coroutine waited for. */
int moonport_swift_deliver(lua_State *L);

/* ---- The trampoline and the wait protocol ---- */

/* The lua_CFunction behind every Swift function (upvalue 1: its context). */
int mp_trampoline(lua_State *L);
/* Pushes the value a coroutine yields when it waits for the host. */
void mp_push_wait_sentinel(lua_State *L);
/* Is the value at idx the wait sentinel? */
int mp_is_wait_sentinel(lua_State *L, int idx);
/* Replaces coroutine.resume and coroutine.wrap with versions that pass a
 * host wait of an inner coroutine on to the coroutine that resumed it, so
 * that blocking calls work inside coroutines the script makes itself. */
void mp_patch_coroutine_library(lua_State *L);
/* Marks co as a coroutine the host drives (see shim.c). */
void mp_mark_root(lua_State *L, lua_State *co);

/* ---- Protected helpers ---- */

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
void mp_sigint_default(void);  /* back to the default action */
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
static inline void mp_newtable(lua_State *L) { lua_newtable(L); }
static inline void mp_insert(lua_State *L, int idx) { lua_insert(L, idx); }
static inline void mp_remove(lua_State *L, int idx) { lua_remove(L, idx); }
static inline void mp_replace(lua_State *L, int idx) { lua_replace(L, idx); }
static inline void mp_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline int mp_getmetatable_named(lua_State *L, const char *name) { return luaL_getmetatable(L, name); }
static inline void *mp_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
static inline int mp_isnoneornil(lua_State *L, int idx) { return lua_isnoneornil(L, idx); }
static inline const char *mp_tolstring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
static inline lua_Number mp_tonumber(lua_State *L, int idx, int *isnum) { return lua_tonumberx(L, idx, isnum); }
static inline lua_Integer mp_tointeger(lua_State *L, int idx, int *isnum) { return lua_tointegerx(L, idx, isnum); }
static inline int mp_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name, const char *mode) {
    return luaL_loadbufferx(L, buf, len, name, mode);
}
static inline void mp_pushcclosure(lua_State *L, int n) { lua_pushcclosure(L, mp_trampoline, n); }
static inline void **mp_extraspace(lua_State *L) { return (void **)lua_getextraspace(L); }
static inline int mp_gc_isrunning(lua_State *L) { return lua_gc(L, LUA_GCISRUNNING); }
static inline void mp_gc_stop(lua_State *L) { lua_gc(L, LUA_GCSTOP); }
static inline void mp_gc_restart(lua_State *L) { lua_gc(L, LUA_GCRESTART); }
static inline void mp_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT); }
/* Generational mode, as the stock lua.c interpreter sets it. */
static inline void mp_gc_generational(lua_State *L) { lua_gc(L, LUA_GCGEN, 0, 0); }
static inline int mp_gc_count_kb(lua_State *L) { return lua_gc(L, LUA_GCCOUNT); }

#endif
