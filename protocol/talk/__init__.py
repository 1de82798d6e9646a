"""Talk: everything linecall says to LINE over HTTPS (legy, encrypted gateway, login, sync, messages)."""
