#!/usr/bin/env python3
"""Validates an OpenAPI document as OpenAPI 3.1 with openapi-spec-validator.

Run with the python of scripts/test-tools.sh (openapi-spec-validator pinned there):

  openapi_check.py FILE
      Reads the JSON document in FILE, validates it against the OpenAPI 3.1
      specification (every error is reported, not only the first), and prints
      {"openapi": "<version>", "paths": N, "operations": N} as JSON.

Any failure prints the errors on stderr and exits non-zero.
"""

import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def main(argv):
    if len(argv) != 1:
        print("usage: openapi_check.py FILE", file=sys.stderr)
        sys.exit(2)
    with open(argv[0], encoding="utf-8") as file:
        document = json.load(file)
    errors = list(OpenAPIV31SpecValidator(document).iter_errors())
    if errors:
        for error in errors:
            print(f"openapi_check: {error.message} at {list(error.absolute_path)}", file=sys.stderr)
        sys.exit(1)
    operations = sum(
        1 for item in document["paths"].values() for method in item if method in METHODS
    )
    print(json.dumps({
        "openapi": document["openapi"],
        "paths": len(document["paths"]),
        "operations": operations,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
