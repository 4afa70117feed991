# -*- test-case-name: tests.integration.test_bench_pi -*-
"""
What libjpeg-turbo's own work costs for each of the C{pi} scenario's
transforms, alone: the floor under their per-frame cost, which no change
to fourcut's own code can go below (issue 23).

    python -m fourcut.bench.codec [FRAMES]

Makes FRAMES (default 120) live view frames as the virtual Canon EOS
sends them (L{fourcut.virtualcam.scene.LiveViewScene}: 960x640, quality
85, about 170 KB), sets malloc as the server does
(L{fourcut.memory.keep_large_blocks_mapped}), and prints as JSON the CPU
milliseconds per frame of this process for: the mirror
(C{preview_flip}), seed 001's preview block, and a downscale to 480 wide
at the downscaler's default quality, each through
L{fourcut.stream.turbo} as the server calls it, one frame at a time in
one thread; and, for comparison, the entropy decoding every one of them
has to do (a decode at 1/8 scale, which skips nearly all else).
"""

import json
import sys
import time

__all__ = ["measure", "main"]


def _per_frame(function, frames, rounds=2):
    for frame in frames[:5]:
        function(frame)
    started = time.thread_time()
    for _ in range(rounds):
        for frame in frames:
            function(frame)
    return round((time.thread_time() - started) * 1e3
                 / (rounds * len(frames)), 2)


def measure(count=120):
    """
    @return: C{{name: CPU ms per frame}} and the frames' mean size.
    """
    from fourcut.memory import keep_large_blocks_mapped
    from fourcut.stream import libturbojpeg as tj
    from fourcut.stream.scaled import DEFAULT_QUALITY
    from fourcut.stream.turbo import LiveTransform, downscale
    from fourcut.virtualcam.scene import LiveViewScene
    keep_large_blocks_mapped()
    scene = LiveViewScene()
    frames = [scene.frame(sequence) for sequence in range(count)]
    _, _, subsampling = tj.header(frames[0])
    return {
        "frame_bytes": round(sum(map(len, frames)) / len(frames)),
        "preview_flip": _per_frame(LiveTransform(flip=True), frames),
        "seed 001 block": _per_frame(
            LiveTransform(flip=True, resolution=(1280, 720)), frames),
        "width 480": _per_frame(
            lambda frame: downscale(frame, 480, DEFAULT_QUALITY), frames),
        "entropy decoding": _per_frame(
            lambda frame: tj.decompress_yuv(frame, (120, 80), subsampling),
            frames),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    count = int(argv[0]) if argv else 120
    print(json.dumps(measure(count)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
