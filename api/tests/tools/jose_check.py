#!/usr/bin/env python3
"""Checks Gatehouse's tokens and JWK Set with independent JOSE implementations.

Run with the python of scripts/test-tools.sh (PyJWT and jwcrypto pinned there):

  jose_check.py verify JWKS_URL TOKEN
      Fetches the JWK Set with PyJWT's PyJWKClient, picks the key the token's
      header names by kid, verifies the token with that key in the key's own
      algorithm only (the JWK's "alg"), and prints the claims as JSON.

  jose_check.py thumbprints JWKS_URL
      Prints a JSON object {"<kid>": "<RFC 7638 SHA-256 thumbprint by jwcrypto>", ...}
      with an entry for every JWK of the set.

Any failure prints a message on stderr and exits non-zero.
"""

import json
import sys
import urllib.request

import jwt
from jwcrypto import jwk as jwcrypto_jwk


def fail(message):
    print(f"jose_check: {message}", file=sys.stderr)
    sys.exit(1)


def verify(jwks_url, token):
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    if not kid:
        fail(f"the token has no kid: {header}")
    client = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, cache_keys=False)
    # Raises when no key of the set has this kid.
    key = client.get_signing_key_from_jwt(token)
    if key.key_id != kid:
        fail(f"PyJWKClient picked kid {key.key_id!r} for a token of kid {kid!r}")
    algorithm = key.algorithm_name
    if header.get("alg") != algorithm:
        fail(f"the token's alg {header.get('alg')!r} is not its key's {algorithm!r}")
    claims = jwt.decode(
        token,
        key=key.key,
        algorithms=[algorithm],
        options={"require": ["exp", "iat", "jti", "token_type", "user_id"]},
    )
    print(json.dumps({"header": header, "claims": claims}))


def thumbprints(jwks_url):
    with urllib.request.urlopen(jwks_url, timeout=10) as response:
        document = json.load(response)
    found = {}
    for key in document["keys"]:
        found[key["kid"]] = jwcrypto_jwk.JWK(**key).thumbprint()
    print(json.dumps(found))


def main(argv):
    try:
        if len(argv) == 3 and argv[0] == "verify":
            verify(argv[1], argv[2])
        elif len(argv) == 2 and argv[0] == "thumbprints":
            thumbprints(argv[1])
        else:
            fail("usage: jose_check.py verify JWKS_URL TOKEN | thumbprints JWKS_URL")
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        fail(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
