#ifndef COLLABZIUM_LINUX_SHIM_H
#define COLLABZIUM_LINUX_SHIM_H
// Nothing to call: the target exists for the symbol it defines (see shim.c).
int collabzium_linux_shim_linked(void);
#endif
