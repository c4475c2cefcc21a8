"""National commercial cryptography (国密): SM2, SM3 and SM4 primitives for the adapters.

Django-free and library-neutral: callers use these modules and their key types, never the
libraries underneath (docs/national-crypto.md says which, and why).

    sm3              digest, HMAC-SM3 and its constant-time check
    sm4              SM4-GCM (sealed with the tag appended) and SM4-CBC with PKCS#7
    sm2              keys, SM2 signatures with SM3 (default user id), public-key encryption
    sm2_ciphertext   SM2 ciphertext forms: ASN.1 C1C3C2 and raw C1||C3||C2
    errors           what these raise
"""
