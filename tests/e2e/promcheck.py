#!/usr/bin/python3
# Parse the Prometheus text format on stdin with the reference parser
# (python3-prometheus-client), refuse a family without HELP or TYPE, and
# print each sample as `name{label="value",...} value`, labels sorted, so
# a shell test can look samples up. Exit 1 on anything wrong.
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
bad = False
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:  # the parser's only way to say "not the format"
    print(f"promcheck: does not parse: {e}", file=sys.stderr)
    sys.exit(1)
for f in families:
    if f.type == "unknown" or not f.documentation:
        print(f"promcheck: {f.name}: no TYPE or no HELP", file=sys.stderr)
        bad = True
    if f.type == "counter" and not all(s.name.endswith("_total") for s in f.samples):
        print(f"promcheck: counter {f.name} without _total", file=sys.stderr)
        bad = True
    for s in f.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value:.0f}")
if not families:
    print("promcheck: no metrics", file=sys.stderr)
    bad = True
sys.exit(1 if bad else 0)
