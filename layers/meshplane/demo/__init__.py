"""`meshplane demo`: a live mesh on this machine with real Envoys and a canary you can watch."""
