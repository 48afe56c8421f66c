#!/usr/bin/env python3
"""Tail benchmark: obs-agent tails one CRI file from start to durable store.

usage: tail_bench.py OBS_AGENT_BINARY CRI_FILE [BLOCK_SIZE]

Starts the agent on a fresh data directory with one log input for the file, waits until every
line is stored (tail lag 0 and the store's entry count equals the file's line count), stops it
gracefully (the head is flushed to a segment), and reports CPU seconds per GB of file (user + system
of the agent, from getrusage after it exits), peak RSS, throughput and the compression ratio (file
bytes / bytes of the log store on disk).
"""
import os, re, resource, shutil, signal, subprocess, sys, tempfile, time, urllib.request

binary, path = sys.argv[1], os.path.abspath(sys.argv[2])
block = sys.argv[3] if len(sys.argv) > 3 else "256KB"
size = os.path.getsize(path)
with open(path, "rb") as f:
    lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))

work = tempfile.mkdtemp(prefix="tailbench-")
config = os.path.join(work, "config.yml")
with open(config, "w") as f:
    f.write(f"""logs:
  storage: {{block_size: {block}}}
  inputs:
    - name: bench
      paths: ["{path}"]
      format: cri
      kubernetes_labels: false
""")
port = 19400
agent = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={work}/data",
                          f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
start = time.time()
def metric(text, name):
    match = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(match.group(1)) if match else None
stored = 0
while True:
    time.sleep(0.5)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        continue
    stored = metric(text, "obs_logs_store_entries_total") or 0
    if stored >= lines:
        break
    if time.time() - start > 1800:
        sys.exit("timed out")
elapsed = time.time() - start
agent.send_signal(signal.SIGTERM)
agent.wait()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
disk = 0
for root, _, files in os.walk(os.path.join(work, "data", "logs")):
    for name in files:
        if not name.startswith("positions.db"):
            disk += os.path.getsize(os.path.join(root, name))
print(f"file: {size / 1e9:.3f} GB, {lines} lines; block size {block}")
print(f"stored {int(stored)} entries in {elapsed:.1f} s ({size / 1e6 / elapsed:.0f} MB/s, {lines / elapsed / 1e3:.0f} k lines/s)")
print(f"CPU: {cpu:.1f} s user+system = {cpu / (size / 1e9):.1f} CPU-s per GB")
print(f"peak RSS: {usage.ru_maxrss / 1024:.0f} MB")
print(f"log store on disk: {disk / 1e6:.1f} MB, compression ratio {size / disk:.2f}")
shutil.rmtree(work)
