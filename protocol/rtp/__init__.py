"""RTP headers and SRTP protection (libsrtp through pylibsrtp)."""
