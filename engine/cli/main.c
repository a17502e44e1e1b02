/* main.c: the plumb command line (placeholder until the CLI lands). */
#include <stdio.h>
int main(void) { puts("plumb"); return 0; }
