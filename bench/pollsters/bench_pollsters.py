#!/usr/bin/env python3
"""bench_pollsters: HTTP probe CPU, meterd's http.probe against blackbox_exporter.

1,000 plain-HTTP targets on one loopback server (distinct paths, so distinct
targets), probed every 10 s with a new connection per probe, by each prober
alone in turn in the same run:

  meterd    one agent, one source with the 1,000 resources, file:// sink;
  blackbox  prometheus-blackbox-exporter, driven by a Prometheus scraping its
            /probe for the same 1,000 targets every 10 s (Prometheus' own CPU
            is measured apart and excluded, as the issue asks).

CPU is utime + stime of the prober's process from /proc over the window
(after a warm-up of one interval and a half), as a percentage of one core;
RSS is VmRSS at the end. The target server's CPU is excluded from both.
Prints one JSON object.

usage: bench_pollsters.py BUILD_DIR [--window S] [--targets N]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "..", "tests", "data", "agent", "http_probe_server.py")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_tcp(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(pids, warmup, window):
    time.sleep(warmup)
    c0 = {k: cpu_s(p) for k, p in pids.items()}
    t0 = time.time()
    time.sleep(window)
    t1 = time.time()
    return {k: {"cpu_pct_of_core": round(100 * (cpu_s(p) - c0[k]) / (t1 - t0), 3),
                "rss_kb": rss_kb(p)} for k, p in pids.items()}


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    window = int(sys.argv[sys.argv.index("--window") + 1]) if "--window" in sys.argv else 60
    n = int(sys.argv[sys.argv.index("--targets") + 1]) if "--targets" in sys.argv else 1000
    interval = 10
    meterd = os.path.join(build, "agent", "meterd")
    blackbox = shutil.which("prometheus-blackbox-exporter")
    prometheus = shutil.which("prometheus")
    tmp = tempfile.mkdtemp(prefix="bench-pollsters.")
    procs = []
    out = {"targets": n, "interval_s": interval, "window_s": window,
           "machine": {"nproc": os.cpu_count(),
                       "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                    if l.startswith("model name")), "?")}}
    try:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True)
        hp, sp = free_port(), free_port()
        server = subprocess.Popen([sys.executable, SERVER, str(hp), str(sp), cert, key])
        procs.append(server)
        assert wait_tcp(hp), "target server did not start"
        targets = [f"http://127.0.0.1:{hp}/ok?t={i}" for i in range(n)]

        # --- meterd alone ---
        sink = os.path.join(tmp, "samples.jsonl")
        api = free_port()
        with open(os.path.join(tmp, "pipeline.yaml"), "w") as f:
            f.write(f"sources:\n  - name: web\n    interval: {interval}\n    meters: ['http.*']\n"
                    "    parameters: {timeout: 5s}\n    resources:\n")
            f.writelines(f"      - '{t}'\n" for t in targets)
            f.write(f"sinks:\n  - name: default\n    publishers: ['file://{sink}']\n")
        with open(os.path.join(tmp, "meterd.conf"), "w") as f:
            f.write(f"[DEFAULT]\nreload_pipeline_config = false\n[polling]\n"
                    f"cfg_file = {tmp}/pipeline.yaml\n[api]\nport = {api}\n")
        md = subprocess.Popen([meterd, "-c", os.path.join(tmp, "meterd.conf"), "-f"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(md)
        m = measure({"meterd": md.pid}, interval * 1.5, window)
        stop(md)
        ups = sum(1 for l in open(sink) if '"http.up"' in l and '"value":1,' in l)
        m["meterd"]["probes_up_in_run"] = ups
        out.update(m)

        # --- blackbox_exporter alone, driven by Prometheus ---
        if not blackbox or not prometheus:
            out["blackbox"] = "skipped: prometheus-blackbox-exporter or prometheus not installed"
        else:
            bp, pp = free_port(), free_port()
            with open(os.path.join(tmp, "bb.yml"), "w") as f:
                f.write("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
            with open(os.path.join(tmp, "prom.yml"), "w") as f:
                f.write(f"global: {{scrape_interval: {interval}s, scrape_timeout: 5s}}\n"
                        "scrape_configs:\n  - job_name: bb\n    metrics_path: /probe\n"
                        "    params: {module: [http_2xx]}\n    static_configs:\n"
                        "      - targets:\n")
                f.writelines(f"          - '{t}'\n" for t in targets)
                f.write("    relabel_configs:\n"
                        "      - {source_labels: [__address__], target_label: __param_target}\n"
                        "      - {source_labels: [__param_target], target_label: instance}\n"
                        f"      - {{target_label: __address__, replacement: '127.0.0.1:{bp}'}}\n")
            bb = subprocess.Popen([blackbox, f"--config.file={tmp}/bb.yml",
                                   f"--web.listen-address=127.0.0.1:{bp}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(bb)
            assert wait_tcp(bp), "blackbox_exporter did not start"
            pr = subprocess.Popen([prometheus, f"--config.file={tmp}/prom.yml",
                                   f"--storage.tsdb.path={tmp}/tsdb",
                                   f"--web.listen-address=127.0.0.1:{pp}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(pr)
            assert wait_tcp(pp), "prometheus did not start"
            b = measure({"blackbox": bb.pid, "prometheus_excluded": pr.pid}, interval * 1.5,
                        window)
            q = urllib.parse.quote("count(probe_success == 1)")
            try:
                r = json.load(urllib.request.urlopen(
                    f"http://127.0.0.1:{pp}/api/v1/query?query={q}", timeout=10))
                b["blackbox"]["targets_up"] = int(float(r["data"]["result"][0]["value"][1]))
            except Exception as e:  # the figure is informative; the CPU stands without it
                b["blackbox"]["targets_up"] = f"query failed: {e}"
            out.update(b)
            if out["blackbox"]["cpu_pct_of_core"] > 0:
                out["meterd_over_blackbox_cpu"] = round(
                    out["meterd"]["cpu_pct_of_core"] / out["blackbox"]["cpu_pct_of_core"], 3)
        out["goal_meterd_le_5pct"] = out["meterd"]["cpu_pct_of_core"] <= 5
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
