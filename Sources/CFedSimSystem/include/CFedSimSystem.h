#ifndef FEDSIM_SYSTEM_H
#define FEDSIM_SYSTEM_H

/// Asks the kernel to send `signal` to this process when its parent dies (Linux
/// PR_SET_PDEATHSIG; prctl is variadic, so Swift cannot call it directly). Returns 0 or -1.
int fedsim_signal_on_parent_death(int signal);

#endif
