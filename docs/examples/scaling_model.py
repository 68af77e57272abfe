"""The latency-bandwidth model of docs/distributed.md: the per-step cost of data-parallel Adam
at 16-1024 ranks, plain (Allreduce) and ZeRO-1, for stated network figures.

    python docs/examples/scaling_model.py

Ring algorithms (MPI's choice for large messages): an Allreduce of B bytes over N ranks sends
2 (N-1)/N B per rank in 2 (N-1) rounds; ZeRO-1's Reduce_scatter and Allgather send half each.
A round costs the latency alpha, a byte 1/beta. The optimizer step moves Adam's 28 bytes per
parameter at the node's memory bandwidth: all of the model on every rank (plain), 1/N of it
(ZeRO-1). Forward and backward are the model's own and come on top.
"""

P = 100e6  # parameters (float32): a 100M-parameter model, 400 MB of gradients
NETWORKS = {  # name: (bandwidth per rank, bytes/s; latency per round, s)
    "InfiniBand HDR, 100 Gb/s": (12e9, 2e-6),
    "Ethernet, 25 Gb/s": (3e9, 20e-6),
}
MEMORY = 100e9  # bytes/s of memory bandwidth for the optimizer step (a two-socket node)
RANKS = (16, 64, 256, 1024)


def costs(n, beta, alpha):
    """(communication, plain step, ZeRO-1 step) in seconds, per rank and step."""
    comm = 2 * (n - 1) * alpha + 2 * (n - 1) / n * 4 * P / beta
    step = 28 * P / MEMORY
    return comm, step, step / n


def main():
    print("| network | ranks | communication | + step, plain | + step, ZeRO-1 | state per rank, "
          "plain / ZeRO-1 |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, (beta, alpha) in NETWORKS.items():
        for n in RANKS:
            comm, plain, zero1 = costs(n, beta, alpha)
            print(f"| {name} | {n} | {comm * 1e3:.1f} ms | {(comm + plain) * 1e3:.1f} ms | "
                  f"{(comm + zero1) * 1e3:.1f} ms | {8 * P / 2**20:.0f} MiB / "
                  f"{8 * P / n / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
