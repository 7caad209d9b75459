#ifndef QTUI_TERMINAL_RESCUE_H
#define QTUI_TERMINAL_RESCUE_H
/* Gives the terminal back when the explorer crashes. Call before initscr: it saves the terminal
 * settings that a crash handler puts back. */
void qtui_install_crash_handlers(void);
#endif
