#ifndef QTUI_CNCURSES_SHIM_H
#define QTUI_CNCURSES_SHIM_H
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <langinfo.h>
#include <signal.h>
#include <poll.h>
#include <ncursesw/curses.h>

/* ncurses exposes these as macros, which Swift cannot call; small functions it can. */
static inline int qtui_put(int y, int x, const char *text, short pair, int bold, int reverse) {
    attr_t attributes = COLOR_PAIR(pair);
    if (bold) attributes |= A_BOLD;
    if (reverse) attributes |= A_REVERSE;
    attrset(attributes);
    return mvaddstr(y, x, text);
}

/* ncurses' globals through functions, so Swift 6 sees no shared mutable state (only the main thread
   ever calls ncurses). */
static inline WINDOW *qtui_screen(void) { return stdscr; }
static inline int qtui_color_count(void) { return COLORS; }

static inline void qtui_enable_mouse(void) {
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
}

/* Mouse event kinds: 1 click, 2 wheel up, 3 wheel down, 0 other. */
static inline int qtui_mouse(int *x, int *y) {
    MEVENT event;
    if (getmouse(&event) != OK) return 0;
    *x = event.x;
    *y = event.y;
    if (event.bstate & BUTTON4_PRESSED) return 2;
    if (event.bstate & BUTTON5_PRESSED) return 3;
    if (event.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) return 1;
    return 0;
}

static inline int qtui_codeset_is_utf8(void) {
    const char *codeset = nl_langinfo(CODESET);
    return codeset && (codeset[0] == 'U' || codeset[0] == 'u') && (codeset[1] == 'T' || codeset[1] == 't');
}

/* SIGTERM and SIGHUP only record which arrived; the event loop sees it and restores the terminal. */
static volatile sig_atomic_t qtui_termination_signal = 0;
static inline void qtui_on_termination(int signal_number) { qtui_termination_signal = signal_number; }
static inline void qtui_install_signal_handlers(void) {
    signal(SIGTERM, qtui_on_termination);
    signal(SIGHUP, qtui_on_termination);
}
/* The signal that asked the explorer to end, or 0. */
static inline int qtui_pending_termination(void) { return qtui_termination_signal; }

/* 1 when the terminal is gone (hang-up without SIGHUP reaching us: reads return end of file). */
static inline int qtui_input_hung_up(void) {
    struct pollfd input = { .fd = 0, .events = POLLIN, .revents = 0 };
    if (poll(&input, 1, 0) < 0) return 0;
    return (input.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}
#endif
