"""Parses a Prometheus text exposition (stdin) with prometheus_client's own parser and
prints its samples as JSON: [{"name", "labels", "value", "type"}, ...].

The parser refuses what does not follow the format (exit status 1, the error on
stderr), so a test that reads this output has had the text checked by an
implementation we did not write.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.append(
                {
                    "family": family.name,
                    "type": family.type,
                    "help": family.documentation,
                    "name": sample.name,
                    "labels": sample.labels,
                    "value": sample.value,
                }
            )
    json.dump(samples, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
