#!/usr/bin/python3
"""Draw the inter-sector drop's Mpps against the number of sectors.

    scripts/plot_isolation.py CSV PNG

CSV is what `CSV=FILE tests/bench/isolation.sh` writes: sectorgate, the
seeds' N x N nftables matrix (where measured) and the bare XDP_DROP, the
limit. Both axes logarithmic: the matrix falls by orders of magnitude.
The matrix is measured up to NFT_MAX sectors only (a million rules at
1000).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    n = [int(r["sectors"]) for r in rows]

    def series(col):
        pts = [(int(r["sectors"]), float(r[col])) for r in rows if r[col]]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(*series("sectorgate_mpps"), "o-", label="sectorgate (XDP)")
    ax.plot(*series("nft_matrix_mpps"), "s-",
            label="nftables N x N iifname/oifname matrix")
    ax.plot(*series("bare_xdp_drop_mpps"), "--", color="grey",
            label="bare XDP_DROP (the limit)")
    for x, y in zip(*series("nft_matrix_mpps")):
        ax.annotate("%.3g" % y, (x, y), textcoords="offset points",
                    xytext=(6, -10), fontsize=8)
    for x, y in zip(*series("sectorgate_mpps")):
        ax.annotate("%.2f" % y, (x, y), textcoords="offset points",
                    xytext=(6, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(n)
    ax.set_xticklabels([str(x) for x in n])
    ax.set_xlabel("sectors")
    ax.set_ylabel("Mpps dropped (64-byte UDP, one core)")
    ax.set_title("Inter-sector drop as the number of sectors grows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
