#!/usr/bin/env python3
"""Forwarding cost: scraping the shared kit's target farm and remote-writing everything to a
Prometheus 2.42 receiver, side by side with Prometheus 2.42 in agent mode and vmagent doing the same.

Each sender runs alone, in turn, against a fresh receiver (`--web.enable-remote-write-receiver`):
  obs-agent, scraping only (no remote_write): the baseline for the extra cost of forwarding;
  obs-agent with remote_write;
  prometheus --enable-feature=agent with remote_write;
  vmagent -remoteWrite.url.
The farm is the kit's (nginx-served targets, values changing every interval). After --warmup
seconds, the sender's CPU and RSS are sampled for --duration seconds, and the samples the receiver
appended in that window are counted from its own /metrics.

usage: bench/forwarding.py --agent .build/release/obs-agent [--targets 100] [--series 1000] [--interval 5]
                           [--warmup 20] [--duration 60]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import common  # noqa: E402
import scrape  # noqa: E402


def appended(receiver):
    _, body = common.http_get("127.0.0.1", receiver.port, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith("prometheus_tsdb_head_samples_appended_total"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    parser.add_argument("--vmagent", default="/usr/bin/vmagent")
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--only", default="", help="comma-separated positions (0-3) of the senders to run")
    args = parser.parse_args()
    common.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="forwarding-bench-")
    # nginx workers run as another user: they must be able to reach the target files.
    os.chmod(work, 0o755)
    farm = scrape.TargetFarm(os.path.join(work, "targets"), args.targets, args.series, args.interval)
    farm.start_nginx(1)
    port = farm.ports[0]
    agent = os.path.abspath(args.agent)
    senders = [
        ("obs-agent, scraping only", False,
         agent + " --config.file={config} --storage.path={datadir} --web.listen-address=127.0.0.1:{port}", "/-/ready"),
        ("obs-agent", True,
         agent + " --config.file={config} --storage.path={datadir} --web.listen-address=127.0.0.1:{port}", "/-/ready"),
        ("Prometheus 2.42 agent mode", True,
         args.prometheus + " --enable-feature=agent --config.file={config} --storage.agent.path={datadir}"
         " --web.listen-address=127.0.0.1:{port}", "/-/ready"),
        ("vmagent 1.79", True,
         args.vmagent + " -promscrape.config={config} -promscrape.config.strictParse=false -remoteWrite.url=RECEIVER"
         " -remoteWrite.tmpDataPath={datadir} -httpListenAddr=127.0.0.1:{port}", "/health"),
    ]
    rows = []
    chosen = {int(i) for i in args.only.split(",")} if args.only else set(range(len(senders)))
    try:
        for index, (name, forwards, command, ready) in enumerate(senders):
            if index not in chosen:
                continue
            receiver = None
            url = ""
            if forwards:
                receiver = common.Server(common.ServerSpec("receiver", args.prometheus + " --config.file={config}"
                                                           " --storage.tsdb.path={datadir} --web.listen-address=127.0.0.1:{port}"
                                                           " --web.enable-remote-write-receiver"),
                                         os.path.join(work, "receiver-%d" % index))
                receiver.write_config("scrape_configs: []\n")
                receiver.start()
                url = "http://127.0.0.1:%d/api/v1/write" % receiver.port
            config = farm.scrape_config(port)
            if forwards and "vmagent" not in name:
                config += "remote_write:\n  - url: %s\n" % url
            sender = common.Server(common.ServerSpec(name, command.replace("RECEIVER", url)), os.path.join(work, "sender-%d" % index),
                                   ready_path=ready)
            sender.write_config(config)
            farm.remove_files()
            sender.start()
            farm.start_writer()
            common.log("%s: warming up %ds, measuring %ds" % (name, args.warmup, args.duration))
            time.sleep(args.warmup)
            cpu0, t0 = sender.cpu(), time.time()
            received0 = appended(receiver) if receiver else 0
            rss = []
            while time.time() - t0 < args.duration:
                rss.append(sender.rss())
                time.sleep(1)
            elapsed = time.time() - t0
            cpu = sender.cpu() - cpu0
            received = (appended(receiver) - received0) if receiver else 0
            farm.stop_writer()
            sender.stop()
            time.sleep(1.5)   # nginx writes its access log lines late
            scrapes, _, _ = farm.count_scrapes(t0, t0 + elapsed, port)
            scraped = scrapes * farm.total_series / farm.n_targets
            common.log("%s: %.1f CPU s, %d scrapes, %d samples received" % (name, cpu, scrapes, received))
            if receiver:
                receiver.stop()
            rows.append((name, cpu, elapsed, scraped, received, sum(rss) / len(rss), max(rss)))
            time.sleep(2)
    finally:
        farm.stop_writer()
        farm.stop_nginx()
    baseline = rows[0] if rows[0][0].endswith("scraping only") else None
    table = []
    for name, cpu, elapsed, scraped, received, rss_mean, rss_max in rows:
        per_million = cpu / (max(received, scraped, 1) / 1e6)
        extra = ""
        if name == "obs-agent" and received and baseline:
            extra = "%.2f" % ((cpu / elapsed - baseline[1] / baseline[2]) * elapsed / (received / 1e6))
        table.append((name, "%.0f" % (scraped / elapsed), "%.0f" % (received / elapsed), "%.2f" % per_million, extra,
                      "%.0f" % (rss_mean / 2 ** 20), "%.0f" % (rss_max / 2 ** 20)))
    print(common.table(["sender", "samples scraped/s", "samples received/s", "CPU s per M samples", "extra CPU s per M forwarded",
                        "RSS mean MiB", "RSS max MiB"], table,
                       title="Forwarding: %d targets x %d series every %ds to a Prometheus 2.42 receiver" % (args.targets, args.series, args.interval)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
