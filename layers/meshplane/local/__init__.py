"""`meshplane local up`: the emulator, the deployed template and a local Lambda runtime."""
