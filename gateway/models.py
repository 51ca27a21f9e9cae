# The gateway keeps no tables of its own: it reads keys, accounts and groups and writes usage logs.
