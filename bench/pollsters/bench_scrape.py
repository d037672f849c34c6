#!/usr/bin/env python3
"""bench_scrape: Prometheus scraping, meterd against vmagent and Prometheus' agent mode.

100 targets (one Python process serving the same fixed 1,000-series page on
100 loopback ports; its CPU is not measured) scraped every 10 s by each
scraper alone, in turn, in the same run, ROUNDS times over (meterd, vmagent,
prometheus, meterd, ...), so that the machine's load, shared with other jobs,
weighs on all three alike and the ratios come from neighbouring phases:

  meterd      one agent, the scrape pollster over the 100 resources, the
              prometheus:// publisher; this script GETs the agent's /metrics
              every interval (the delivery, as remote write is the others');
  vmagent     Debian victoria-metrics 1.79, -remoteWrite.url to a local
              endpoint that discards;
  prometheus  Prometheus 2.42 with --enable-feature=agent, remote write to
              the same discard endpoint.

Per phase: CPU = utime + stime of the scraper's process from /proc over the
window (after a warm-up of 1.5 intervals), per scraped sample (targets x
series x scrapes in the window); RSS = VmRSS at the window's end; the load
average at its start and end. Prints one JSON object.

usage: bench_scrape.py BUILD_DIR [--window S] [--rounds N] [--targets N] [--series N]
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_pollsters import cpu_s, free_port, rss_kb, stop, wait_tcp  # noqa: E402

SERVER = os.path.join(HERE, "..", "..", "tests", "agent", "scrape_server.py")
INTERVAL = 10


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def page(series):
    """A fixed exposition: families of 20 series, counters and gauges, 2 labels each."""
    out, n, fam = [], 0, 0
    while n < series:
        name = f"bench_family_{fam}" + ("_total" if fam % 2 == 0 else "")
        kind = "counter" if fam % 2 == 0 else "gauge"
        out.append(f"# HELP {name} family {fam} of the scrape bench\n# TYPE {name} {kind}\n")
        for i in range(min(20, series - n)):
            out.append(f'{name}{{shard="{i}",zone="zone-{i % 4}"}} {fam * 1000 + i}.5\n')
            n += 1
        fam += 1
    return "".join(out)


def discard_server(port):
    """Remote write receiver: reads each body, answers 204, counts what came."""
    stats = {"requests": 0, "bytes": 0}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                stats["requests"] += 1
                stats["bytes"] += len(body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, stats, lock


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def metric_sum(url, names):
    """Sum of the named series on a Prometheus text page (best effort)."""
    try:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    except OSError as e:
        return f"fetch failed: {e}"
    total = {n: 0.0 for n in names}
    for line in text.splitlines():
        for n in names:
            if line.startswith(n + " ") or line.startswith(n + "{"):
                total[n] += float(line.rsplit(" ", 1)[1])
    return total


def phase(name, proc, pid_of, warmup, window, discard, tick=None):
    """Measures one scraper alone; tick() runs once per interval (meterd's delivery)."""
    end_warm = time.time() + warmup
    while time.time() < end_warm:
        if tick:
            tick()
        time.sleep(min(INTERVAL, max(0, end_warm - time.time())))
    la0 = loadavg()
    stats, lock = discard
    with lock:
        d0 = dict(stats)
    pid = pid_of()
    c0, t0 = cpu_s(pid), time.time()
    while time.time() - t0 < window:
        if tick:
            tick()
        time.sleep(min(INTERVAL, max(0, window - (time.time() - t0))))
    c1, t1 = cpu_s(pid), time.time()
    with lock:
        d1 = dict(stats)
    return {"cpu_s": round(c1 - c0, 3), "window_s": round(t1 - t0, 1), "rss_kb": rss_kb(pid),
            "loadavg_start": la0, "loadavg_end": loadavg(),
            "remote_write_requests": d1["requests"] - d0["requests"],
            "remote_write_bytes": d1["bytes"] - d0["bytes"]}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    window, rounds = arg("--window", 40), arg("--rounds", 3)
    ntargets, nseries = arg("--targets", 100), arg("--series", 1000)
    meterd = os.path.join(build, "agent", "meterd")
    vmagent, prometheus = shutil.which("vmagent"), shutil.which("prometheus")
    tmp = tempfile.mkdtemp(prefix="bench-scrape.")
    procs = []
    out = {"targets": ntargets, "series_per_target": nseries, "interval_s": INTERVAL,
           "window_s": window, "rounds": rounds,
           "versions": {},
           "machine": {"nproc": os.cpu_count(),
                       "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                    if l.startswith("model name")), "?")},
           "phases": []}
    try:
        for tool, pkg in (("vmagent", "victoria-metrics"), ("prometheus", "prometheus")):
            # vmagent -version prints nothing in Debian's build: ask dpkg
            r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                               capture_output=True, text=True)
            out["versions"][tool] = f"{pkg} {r.stdout.strip()}" if r.returncode == 0 \
                else "not installed"
        os.makedirs(os.path.join(tmp, "pages"))
        with open(os.path.join(tmp, "pages", "metrics.prom"), "w") as f:
            f.write(page(nseries))
        ports = []
        while len(ports) < ntargets:  # the kernel may hand a closed port out again
            p = free_port()
            if p not in ports:
                ports.append(p)
        server = subprocess.Popen([sys.executable, SERVER, os.path.join(tmp, "pages"),
                                   ",".join(map(str, ports))])
        procs.append(server)
        assert all(wait_tcp(p) for p in ports), "target server did not start"
        targets = [f"127.0.0.1:{p}" for p in ports]
        dport = free_port()
        dsrv, dstats, dlock = discard_server(dport)
        discard = (dstats, dlock)
        scrape_yml = os.path.join(tmp, "scrape.yml")
        with open(scrape_yml, "w") as f:
            f.write(f"global: {{scrape_interval: {INTERVAL}s, scrape_timeout: 5s}}\n"
                    "scrape_configs:\n  - job_name: bench\n    metrics_path: /metrics.prom\n"
                    "    static_configs:\n      - targets:\n")
            f.writelines(f"          - '{t}'\n" for t in targets)
        with open(os.path.join(tmp, "prom.yml"), "w") as f:
            f.write(open(scrape_yml).read())
            f.write(f"remote_write:\n  - url: http://127.0.0.1:{dport}/api/v1/write\n")
        with open(os.path.join(tmp, "pipeline.yaml"), "w") as f:
            f.write(f"sources:\n  - name: bench\n    interval: {INTERVAL}\n"
                    "    meters: ['scrape.*']\n    resources:\n")
            f.writelines(f"      - 'http://{t}/metrics.prom'\n" for t in targets)
            f.write("sinks:\n  - name: default\n    publishers: ['prometheus://']\n")

        def run_meterd():
            api = free_port()
            with open(os.path.join(tmp, "meterd.conf"), "w") as f:
                f.write(f"[DEFAULT]\nreload_pipeline_config = false\nlog_level = warning\n"
                        f"[polling]\ncfg_file = {tmp}/pipeline.yaml\n[api]\nport = {api}\n")
            p = subprocess.Popen([meterd, "-c", os.path.join(tmp, "meterd.conf"), "-f"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert wait_tcp(api), "meterd did not start"
            seen = {}

            def deliver():
                body = urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics",
                                              timeout=30).read().decode()
                seen["series"] = sum(1 for l in body.splitlines()
                                     if l.startswith("bench_family_"))
                seen["targets_up"] = sum(1 for l in body.splitlines()
                                         if l.startswith("meterd_scrape_up{") and
                                         l.endswith(" 1"))
            r = phase("meterd", p, lambda: p.pid, INTERVAL * 1.5, window, discard, deliver)
            r.update({"series_exposed": seen.get("series"),
                      "targets_up": seen.get("targets_up")})
            return p, r

        def run_vmagent():
            port = free_port()
            p = subprocess.Popen([vmagent, f"-promscrape.config={scrape_yml}",
                                  f"-remoteWrite.url=http://127.0.0.1:{dport}/api/v1/write",
                                  f"-remoteWrite.tmpDataPath={tmp}/vmagent-{port}",
                                  f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=ERROR"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert wait_tcp(port), "vmagent did not start"
            r = phase("vmagent", p, lambda: p.pid, INTERVAL * 1.5, window, discard)
            r["own_metrics"] = metric_sum(f"http://127.0.0.1:{port}/metrics",
                                          ["vm_promscrape_scraped_samples_sum",
                                           "vm_promscrape_scrapes_total"])
            return p, r

        def run_prometheus():
            port = free_port()
            p = subprocess.Popen([prometheus, "--enable-feature=agent",
                                  f"--config.file={tmp}/prom.yml",
                                  f"--storage.agent.path={tmp}/agent-{port}",
                                  f"--web.listen-address=127.0.0.1:{port}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert wait_tcp(port), "prometheus did not start"
            r = phase("prometheus", p, lambda: p.pid, INTERVAL * 1.5, window, discard)
            r["own_metrics"] = metric_sum(f"http://127.0.0.1:{port}/metrics",
                                          ["prometheus_remote_storage_samples_total",
                                           "prometheus_agent_active_series"])
            return p, r

        runners = [("meterd", run_meterd)]
        if vmagent:
            runners.append(("vmagent", run_vmagent))
        if prometheus:
            runners.append(("prometheus", run_prometheus))
        per_sample = ntargets * nseries
        for rnd in range(rounds):
            row = {"round": rnd + 1}
            for name, run in runners:
                p, r = run()
                procs.append(p)
                stop(p)
                scrapes = r["window_s"] / INTERVAL
                r["cpu_us_per_sample"] = round(1e6 * r["cpu_s"] / (per_sample * scrapes), 3)
                r["cpu_pct_of_core"] = round(100 * r["cpu_s"] / r["window_s"], 2)
                row[name] = r
            for peer in ("vmagent", "prometheus"):
                if peer in row:
                    row[f"meterd_over_{peer}_cpu"] = round(
                        row["meterd"]["cpu_s"] / max(row[peer]["cpu_s"], 1e-9), 3)
                    row[f"meterd_over_{peer}_rss"] = round(
                        row["meterd"]["rss_kb"] / max(row[peer]["rss_kb"], 1), 3)
            out["phases"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        dsrv.shutdown()
        rows = out["phases"]
        if rows and "vmagent" in rows[0] and "prometheus" in rows[0]:
            out["goals"] = {
                "cpu_le_vmagent": all(r["meterd_over_vmagent_cpu"] <= 1 for r in rows),
                "cpu_le_half_prometheus": all(r["meterd_over_prometheus_cpu"] <= 0.5
                                              for r in rows),
                "rss_le_vmagent": all(r["meterd_over_vmagent_rss"] <= 1 for r in rows),
                "rss_le_quarter_prometheus": all(r["meterd_over_prometheus_rss"] <= 0.25
                                                 for r in rows)}
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
