#ifndef EDDY_CNCURSES_SHIM_H
#define EDDY_CNCURSES_SHIM_H
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <langinfo.h>
#include <stdio.h>
#include <ncursesw/curses.h>

/* Swift cannot read C globals safely under Swift 6 concurrency checking, nor call function-like
   macros; these one-liners give TUI/Terminal what it needs. */
static inline SCREEN *eddy_newterm(void) { return newterm(NULL, stdout, stdin); }
static inline WINDOW *eddy_stdscr(void) { return stdscr; }
static inline int eddy_colors(void) { return COLORS; }
static inline int eddy_color_pairs(void) { return COLOR_PAIRS; }
static inline int eddy_lines(void) { return LINES; }
static inline int eddy_cols(void) { return COLS; }
static inline const char *eddy_codeset(void) { return nl_langinfo(CODESET); }
static inline int eddy_key_f(int n) { return KEY_F(n); }

/* attr bits: 1 bold, 2 dim, 4 underline, 8 reverse, 16 italic (same as TUI.Attr) */
static inline attr_t eddy_attrs(unsigned bits) {
    attr_t a = A_NORMAL;
    if (bits & 1) a |= A_BOLD;
    if (bits & 2) a |= A_DIM;
    if (bits & 4) a |= A_UNDERLINE;
    if (bits & 8) a |= A_REVERSE;
#ifdef A_ITALIC
    if (bits & 16) a |= A_ITALIC;
#endif
    return a;
}
/* Extended colour pairs (> 32767) go through the opts pointer of attr_set. */
static inline int eddy_set_style(attr_t a, int pair) {
    return wattr_set(stdscr, a, (short)(pair < 32767 ? pair : 0), &pair);
}
static inline mmask_t eddy_mouse_mask(void) {
    return BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED;
}
/* 0 none, 1 press, 2 wheel up, 3 wheel down */
static inline int eddy_mouse_kind(mmask_t m) {
    if (m & BUTTON4_PRESSED) return 2;
    if (m & BUTTON5_PRESSED) return 3;
    if (m & (BUTTON1_PRESSED | BUTTON1_CLICKED)) return 1;
    return 0;
}
#endif
