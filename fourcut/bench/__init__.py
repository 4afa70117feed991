# -*- test-case-name: tests.integration.test_bench -*-
"""
C{python -m fourcut.bench}: measure fourcut against the bare gphoto2 CLI.

The benchmark starts the virtual camera (C{python -m fourcut.virtualcam})
and a fourcut server (C{twistd -n fourcut ...}) as separate processes,
drives them with preview clients in one or more client processes
(L{fourcut.bench.clients}), and prints each scenario's figures beside its
target:

 1. fan-out: 1..100 preview clients, half HTTP multipart, half WebSocket;
 2. headroom: unpaced camera, fourcut's frame rate over a bare
    C{gphoto2 --capture-movie --stdout} pipe's;
 3. capture: C{GET /capture} against bare
    C{gphoto2 --capture-image-and-download}, and the gap a watching client
    sees during a capture;
 4. slow clients beside normal ones.

Latency is the client's receive time minus the time the virtual camera
wrote into the frame's COM segment. Server CPU and peak RSS are read from
the server's own C{/proc} accounting.

Modules: L{procs} (child processes and C{/proc}), L{clients} (the client
process), L{scenarios}, L{report} (statistics, tables, JSON, chart).
"""

__all__ = []
