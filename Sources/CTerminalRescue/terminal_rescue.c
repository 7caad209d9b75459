#include "terminal_rescue.h"
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* A crash (a Swift runtime trap arrives as SIGILL or SIGTRAP, a bad access as SIGSEGV or SIGBUS) never
 * unwinds to endwin(). The handler restores what the terminal needs with async-signal-safe calls only:
 * the settings saved before initscr, then escape sequences that stop mouse reports and keypad mode,
 * reset attributes, show the cursor and leave the alternate screen. It says so on stderr and hands the
 * signal on to the handler that was there before (Swift's backtracer then prints its report on the
 * restored screen) or to the default action. */
enum { CRASH_SIGNAL_COUNT = 6 };
static const int crash_signals[CRASH_SIGNAL_COUNT] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT };
static struct sigaction previous_actions[CRASH_SIGNAL_COUNT];
static struct termios saved_terminal;
static volatile sig_atomic_t terminal_saved = 0;

static void on_crash(int signal_number) {
    if (terminal_saved) tcsetattr(0, TCSANOW, &saved_terminal);
    static const char reset[] = "\033[?1000l\033[?1002l\033[?1006l\033[?1l\033>\033[0m\033[?25h\033[?1049l\r\n";
    static const char note[] = "qtui: crashed; the terminal was restored. Please report this with the steps that led to it.\n";
    ssize_t ignored = write(1, reset, sizeof reset - 1);
    ignored = write(2, note, sizeof note - 1);
    (void)ignored;
    for (int k = 0; k < CRASH_SIGNAL_COUNT; k++)
        if (crash_signals[k] == signal_number) sigaction(signal_number, &previous_actions[k], NULL);
    raise(signal_number);  /* blocked in this handler: delivered to the previous action when it returns */
}

void qtui_install_crash_handlers(void) {
    if (tcgetattr(0, &saved_terminal) == 0) terminal_saved = 1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_crash;
    sigemptyset(&action.sa_mask);
    for (int k = 0; k < CRASH_SIGNAL_COUNT; k++) sigaction(crash_signals[k], &action, &previous_actions[k]);
}
