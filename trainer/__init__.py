from .quiet import install as _quiet_libraries

_quiet_libraries()  # before anything imports diffusers (and with it bitsandbytes)
