#ifndef CEDITLINE_H
#define CEDITLINE_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <histedit.h>

/*
 * el_set, el_get and history are variadic, which Swift cannot call: these
 * typed wrappers are the only way the REPL reaches them.
 */

typedef char *(*mp_el_prompt_fn)(EditLine *);
typedef unsigned char (*mp_el_command_fn)(EditLine *, int);

/* el_init on the process's stdin, stdout and stderr. */
static inline EditLine *mp_el_init(const char *program) {
    return el_init(program, stdin, stdout, stderr);
}

static inline int mp_el_set_prompt(EditLine *el, mp_el_prompt_fn fn) {
    return el_set(el, EL_PROMPT, fn);
}

static inline int mp_el_set_editor(EditLine *el, const char *mode) {
    return el_set(el, EL_EDITOR, mode);
}

/* EL_SIGNAL: 0 leaves every signal to us (libedit's own handlers would
 * re-send the signal to the whole process group). */
static inline int mp_el_set_signal(EditLine *el, int on) {
    return el_set(el, EL_SIGNAL, on);
}

static inline int mp_el_add_function(EditLine *el, const char *name, const char *help, mp_el_command_fn fn) {
    return el_set(el, EL_ADDFN, name, help, fn);
}

static inline int mp_el_bind(EditLine *el, const char *key, const char *command) {
    return el_set(el, EL_BIND, key, command, (const char *)NULL);
}

static inline int mp_el_set_history(EditLine *el, History *h) {
    return el_set(el, EL_HIST, history, h);
}

/* EL_GETCFN: the function libedit calls to read one character. */
static inline int mp_el_set_getc(EditLine *el, el_rfunc_t fn) {
    return el_set(el, EL_GETCFN, fn);
}

static inline int mp_el_set_clientdata(EditLine *el, void *data) {
    return el_set(el, EL_CLIENTDATA, data);
}

static inline void *mp_el_get_clientdata(EditLine *el) {
    void *data = NULL;
    if (el_get(el, EL_CLIENTDATA, &data) != 0) return NULL;
    return data;
}

/* The file libedit writes the prompt and the line to (for listings). */
static inline FILE *mp_el_output(EditLine *el) {
    FILE *fp = NULL;
    if (el_get(el, EL_GETFP, 1, &fp) != 0) return NULL;
    return fp;
}

/* One line of C stdin (shared with Lua's io.read), for the REPL when stdin
 * is not a terminal. Returns the length (the line in *line, malloc'd, with
 * its newline), -1 at end of input, or -2 when a signal interrupted the read
 * (the error flag is cleared so reading can go on). Swift's readLine cannot
 * be used: it retries EINTR forever once stdin's error flag is set. */
static inline long mp_read_stdin_line(char **line, size_t *capacity) {
    errno = 0;
    ssize_t n = getline(line, capacity, stdin);
    if (n >= 0) return (long)n;
    int interrupted = errno == EINTR;
    clearerr(stdin);
    return interrupted ? -2 : -1;
}

/* The width of the terminal on fd (0 if unknown): for completion lists. */
static inline int mp_terminal_columns(int fd) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
    return ws.ws_col;
}

/* ---- history ---- */

static inline int mp_history_setsize(History *h, int size) {
    HistEvent ev;
    return history(h, &ev, H_SETSIZE, size);
}

static inline int mp_history_setunique(History *h, int unique) {
    HistEvent ev;
    return history(h, &ev, H_SETUNIQUE, unique);
}

static inline int mp_history_enter(History *h, const char *line) {
    HistEvent ev;
    return history(h, &ev, H_ENTER, line);
}

/* Returns the number of entries read, or -1. */
static inline int mp_history_load(History *h, const char *path) {
    HistEvent ev;
    return history(h, &ev, H_LOAD, path);
}

/* Returns the number of entries written, or -1. */
static inline int mp_history_save(History *h, const char *path) {
    HistEvent ev;
    return history(h, &ev, H_SAVE, path);
}

#endif
