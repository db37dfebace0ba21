// Throw-away self-signed certificate (CN=ferrolb-probe-test, P-256, 100 years) for the https prober
// tests only: the prober does not verify certificates, so its content and validity do not matter.
export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgektsDvqbY/F8Qgzx
lzS4q6Wr/OZIzwvZTR1Hanyyn/WhRANCAARPD2b66Cp7W4GhF3S9/JzQ2qe7gM6W
NLWmSReH0A6yn7ZC5+O4d+t8IYIrm+sr6GlnBSeSxUbB3vGZ1EWoK55o
-----END PRIVATE KEY-----`;

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUMFp29UrUo73OmmBsQUkaO4s4LcIwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSZmVycm9sYi1wcm9iZS10ZXN0MCAXDTI2MTEyMzA5MDQ1OVoY
DzIxMjYxMDMwMDkwNDU5WjAdMRswGQYDVQQDDBJmZXJyb2xiLXByb2JlLXRlc3Qw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARPD2b66Cp7W4GhF3S9/JzQ2qe7gM6W
NLWmSReH0A6yn7ZC5+O4d+t8IYIrm+sr6GlnBSeSxUbB3vGZ1EWoK55oo1MwUTAd
BgNVHQ4EFgQUCQwFaxer6a1kAuAkQI+zqCxzkgQwHwYDVR0jBBgwFoAUCQwFaxer
6a1kAuAkQI+zqCxzkgQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
AiArZdERbVcBxzF2uQI+YXLZ2Tx0OQgVNRb5DVCWBmRrZgIgbc2QmYM/EP4f8loG
BiAHqr2eIKtKh8vIK33dDe5kj4A=
-----END CERTIFICATE-----`;
