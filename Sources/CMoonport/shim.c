/*
 * The only place in moonport that raises Lua errors or yields (both longjmp).
 * Everything here is C, so a longjmp never crosses a Swift frame; the
 * allocator below makes sure an out-of-memory error does not either.
 */
#include "moonport_shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* The Lua heap: failures never unwind through Swift                   */
/* ------------------------------------------------------------------ */

typedef struct mp_heap {
    size_t used;  /* bytes Lua holds (as Lua counts them) */
    size_t limit; /* 0: none */
    int swift;    /* 1 while Swift is the innermost code running on the state */
} mp_heap;

static void mp_heap_stop(mp_heap *h, size_t asked) {
    /* No malloc here: the message is formatted on the stack. */
    char msg[200];
    double mib = (double)(h->used + asked) / (1024.0 * 1024.0);
    int n;
    if (h->limit > 0)
        n = snprintf(msg, sizeof msg,
                     "moonport: out of memory in the Lua state (%.1f MiB, limit %zu MiB); stopping\n",
                     mib, h->limit / (1024 * 1024));
    else
        n = snprintf(msg, sizeof msg, "moonport: out of memory in the Lua state (%.1f MiB); stopping\n", mib);
    fflush(stdout);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    _exit(1);
}

static void *mp_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    mp_heap *h = (mp_heap *)ud;
    size_t old = ptr != NULL ? osize : 0; /* with ptr NULL, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        h->used -= old;
        return NULL;
    }
    if (h->limit > 0 && nsize > old && h->used - old + nsize > h->limit) {
        if (h->swift) mp_heap_stop(h, nsize - old);
        return NULL; /* Lua collects, retries, then raises "not enough memory" */
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (h->swift) mp_heap_stop(h, nsize > old ? nsize - old : 0);
        return NULL;
    }
    h->used = h->used - old + nsize;
    return p;
}

static mp_heap *mp_heap_of(lua_State *L) {
    void *ud = NULL;
    return lua_getallocf(L, &ud) == mp_alloc ? (mp_heap *)ud : NULL;
}

int mp_heap_install(lua_State *L, size_t limit_bytes) {
    mp_heap *h = (mp_heap *)malloc(sizeof *h);
    if (h == NULL) return 0;
    /* luaL_newstate's allocator is realloc/free too: the blocks carry over. */
    h->used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    h->limit = limit_bytes;
    h->swift = 1; /* the host (Swift) made the state and goes on setting it up */
    lua_setallocf(L, mp_alloc, h);
    return 1;
}

void mp_heap_close(lua_State *L) {
    mp_heap *h = mp_heap_of(L);
    lua_close(L);
    free(h);
}

static int mp_set_swift(lua_State *L, int swift) {
    mp_heap *h = mp_heap_of(L);
    if (h == NULL) return 0;
    int previous = h->swift;
    h->swift = swift;
    return previous;
}

int mp_swift_enter(lua_State *L) { return mp_set_swift(L, 1); }

void mp_swift_leave(lua_State *L, int previous) { (void)mp_set_swift(L, previous); }

/* Lua code runs, under a protected call made here in C. */
static int mp_lua_enter(lua_State *L) { return mp_set_swift(L, 0); }

int mp_resume(lua_State *co, lua_State *from, int nargs, int *nres) {
    int previous = mp_lua_enter(co);
    int status = lua_resume(co, from, nargs, nres);
    mp_swift_leave(co, previous);
    return status;
}

int mp_load(lua_State *L, const char *buf, size_t len, const char *name, const char *mode) {
    int previous = mp_lua_enter(L);
    int status = luaL_loadbufferx(L, buf, len, name, mode);
    mp_swift_leave(L, previous);
    return status;
}

/* ------------------------------------------------------------------ */
/* The trampoline and the suspend protocol                             */
/* ------------------------------------------------------------------ */

static const char mp_suspend_key = 's';

void mp_push_suspend_marker(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&mp_suspend_key);
}

int mp_is_suspend_marker(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == (void *)&mp_suspend_key;
}

static int mp_finish(lua_State *L, int n);

/* Runs when the host resumes a coroutine whose Swift call was suspended. */
static int mp_deliver_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    (void)ctx;
    int previous = mp_swift_enter(L);
    int n = moonport_swift_deliver(L);
    mp_swift_leave(L, previous);
    return mp_finish(L, n);
}

static int mp_finish(lua_State *L, int n) {
    if (n == MP_RAISE) return lua_error(L);
    if (n == MP_SUSPEND) {
        /* LuaRuntime.checkCanSuspend made sure L can yield. */
        mp_push_suspend_marker(L);
        return lua_yieldk(L, 1, 0, mp_deliver_k);
    }
    return n;
}

int mp_trampoline(lua_State *L) {
    int previous = mp_swift_enter(L);
    int n = moonport_swift_call(L);
    mp_swift_leave(L, previous);
    return mp_finish(L, n);
}

/* ------------------------------------------------------------------ */
/* coroutine.resume / coroutine.wrap that pass suspensions outward     */
/* ------------------------------------------------------------------ */

/* Moves narg values into co, resumes it and moves its results (or its
 * error) back. Returns the number of results, or -1 with the error on top. */
static int mp_auxresume(lua_State *L, lua_State *co, int narg) {
    int status, nres;
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    status = lua_resume(co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

/* Did the resumed coroutine stop because a Swift call suspended it? */
static int mp_inner_suspended(lua_State *L, int r) {
    return r == 1 && mp_is_suspend_marker(L, -1);
}

static int mp_forward_suspension(lua_State *L, lua_KContext ctx, lua_KFunction k) {
    if (!lua_isyieldable(L)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "a coroutine waits for I/O, but the code that resumed it cannot wait "
                           "(it runs inside a metamethod, a C iterator or outside any task)");
        return lua_error(L);
    }
    /* The suspend marker is on top: yield it to whoever resumed us. */
    return lua_yieldk(L, 1, ctx, k);
}

static int mp_resume_result(lua_State *L, lua_State *co, int r);

static int mp_resume_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    lua_State *co = (lua_State *)ctx;
    return mp_resume_result(L, co, mp_auxresume(L, co, 0));
}

static int mp_resume_result(lua_State *L, lua_State *co, int r) {
    if (mp_inner_suspended(L, r)) return mp_forward_suspension(L, (lua_KContext)co, mp_resume_k);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int mp_coresume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return mp_resume_result(L, co, mp_auxresume(L, co, lua_gettop(L) - 1));
}

static int mp_wrap_result(lua_State *L, lua_State *co, int r);

static int mp_wrap_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    (void)ctx;
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    return mp_wrap_result(L, co, mp_auxresume(L, co, 0));
}

static int mp_wrap_result(lua_State *L, lua_State *co, int r) {
    if (mp_inner_suspended(L, r)) return mp_forward_suspension(L, 0, mp_wrap_k);
    if (r < 0) {
        int stat = lua_status(co);
        if (stat != LUA_OK && stat != LUA_YIELD) { /* error inside the coroutine */
            stat = lua_resetthread(co);            /* close its to-be-closed variables */
            lua_xmove(co, L, 1);
        }
        if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return r;
}

static int mp_auxwrap(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    return mp_wrap_result(L, co, mp_auxresume(L, co, lua_gettop(L)));
}

static int mp_cowrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *NL = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, NL, 1);
    lua_pushcclosure(L, mp_auxwrap, 1);
    return 1;
}

/* The coroutines the host drives (a script's main chunk, a REPL line, a
 * task) are, to the script, what the main thread is to the stock
 * interpreter: running() says "main", they are not yieldable by the script,
 * and coroutine.yield in them raises at once (catchable by pcall). */
static const char mp_roots_key = 'r';

static int mp_is_root(lua_State *L, lua_State *co) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &mp_roots_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    int root = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return root;
}

void mp_mark_root(lua_State *L, lua_State *co) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &mp_roots_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_newtable(L);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &mp_roots_key);
    }
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static int mp_corunning(lua_State *L) {
    int ismain = lua_pushthread(L);
    lua_pushboolean(L, ismain || mp_is_root(L, L));
    return 2;
}

static int mp_coisyieldable(lua_State *L) {
    lua_State *co = lua_isnone(L, 1) ? L : lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    lua_pushboolean(L, lua_isyieldable(co) && !mp_is_root(L, co));
    return 1;
}

static int mp_coyield(lua_State *L) {
    if (mp_is_root(L, L)) return luaL_error(L, "attempt to yield from outside a coroutine");
    return lua_yield(L, lua_gettop(L));
}

void mp_patch_coroutine_library(lua_State *L) {
    lua_getglobal(L, "coroutine");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, mp_coresume);
        lua_setfield(L, -2, "resume");
        lua_pushcfunction(L, mp_cowrap);
        lua_setfield(L, -2, "wrap");
        lua_pushcfunction(L, mp_corunning);
        lua_setfield(L, -2, "running");
        lua_pushcfunction(L, mp_coisyieldable);
        lua_setfield(L, -2, "isyieldable");
        lua_pushcfunction(L, mp_coyield);
        lua_setfield(L, -2, "yield");
    }
    lua_pop(L, 1);
    /* require "coroutine" returns the same table, through package.loaded */
}

/* ------------------------------------------------------------------ */
/* Protected helpers                                                   */
/* ------------------------------------------------------------------ */

static int mp_msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int mp_pcall_traceback(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, mp_msghandler);
    lua_insert(L, base);
    int previous = mp_lua_enter(L);
    int status = lua_pcall(L, nargs, nresults, base);
    mp_swift_leave(L, previous);
    lua_remove(L, base);
    return status;
}

static int mp_tostring_fn(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

int mp_safe_tostring(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(L, 3)) return 0;
    lua_pushcfunction(L, mp_tostring_fn);
    lua_pushvalue(L, idx);
    int previous = mp_lua_enter(L);
    int status = lua_pcall(L, 1, 1, 0);
    mp_swift_leave(L, previous);
    if (status == LUA_OK) return 1;
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "(error while converting a value to a string)");
    }
    return 0;
}

void mp_error_with_traceback(lua_State *L, lua_State *co) {
    int top = lua_gettop(L);
    const char *msg = NULL;
    if (lua_type(L, top) == LUA_TSTRING) {
        msg = lua_tostring(L, top);
    } else if (luaL_getmetafield(L, top, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        if (mp_safe_tostring(L, top)) msg = lua_tostring(L, -1);
        else lua_pop(L, 1);
    }
    if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, top));
    luaL_traceback(L, co, msg, 0);
    lua_replace(L, top);
    lua_settop(L, top);
}

void mp_where(lua_State *L, int level) {
    luaL_where(L, level);
}

/* ------------------------------------------------------------------ */
/* Ctrl-C and wake-ups                                                 */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t mp_sigint_flag = 0;
static lua_State *volatile mp_running = NULL;
static sem_t *volatile mp_sigint_wake = NULL;

static void mp_stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static volatile sig_atomic_t mp_last_signal_number = 0;
static volatile sig_atomic_t mp_signals_seen = 0;
static volatile sig_atomic_t mp_exit_on_second = 0;

static void mp_on_sigint(int sig) {
    mp_last_signal_number = sig;
    /* `moonport run`: a second SIGINT/SIGTERM ends the process at once. */
    if (mp_exit_on_second && mp_signals_seen++ >= 1) _exit(128 + sig);
    mp_sigint_flag = 1;
    lua_State *L = mp_running;
    if (L != NULL) lua_sethook(L, mp_stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    sem_t *wake = mp_sigint_wake;
    if (wake != NULL) sem_post(wake); /* async-signal-safe */
}

void mp_sigint_install(void *wake) {
    mp_sigint_wake = (sem_t *)wake;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mp_on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
}

void mp_sigterm_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mp_on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGTERM, &sa, NULL);
    mp_exit_on_second = 1;
}

int mp_last_signal(void) {
    return mp_last_signal_number;
}

int mp_sigint_take(void) {
    int was = mp_sigint_flag;
    mp_sigint_flag = 0;
    return was;
}

void mp_set_running(lua_State *L) {
    mp_running = L;
}

void *mp_wake_new(void) {
    sem_t *s = (sem_t *)malloc(sizeof(sem_t));
    if (s != NULL) sem_init(s, 0, 0);
    return s;
}

void mp_wake_free(void *wake) {
    if (wake == NULL) return;
    if (mp_sigint_wake == wake) mp_sigint_wake = NULL;
    sem_destroy((sem_t *)wake);
    free(wake);
}

void mp_wake_post(void *wake) {
    sem_post((sem_t *)wake);
}

int mp_wake_wait(void *wake, double timeout_seconds) {
    sem_t *s = (sem_t *)wake;
    if (timeout_seconds < 0) {
        while (sem_wait(s) != 0) {
            if (errno == EINTR) return 1; /* a signal: let the caller look at its flags */
        }
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long whole = (long long)timeout_seconds;
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((timeout_seconds - (double)whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    if (sem_timedwait(s, &ts) == 0) return 1;
    return errno == EINTR ? 1 : 0;
}
