#!/usr/bin/env python3
"""SmartPower's performance harness (issue 7): every figure of docs/benchmarks.md, side by side with its baseline, in
one run. Started by harness/perf.sh, which builds first. Loopback only; every load is bounded in count and time.

  throughput  the simulator at max rate -> mosquitto -> one QoS 1 subscriber (the broker-only ceiling), then the same
              load -> `serve` (embedded broker -> ingress -> file log -> detection -> SQLite), with and without fsync
  simulator   the device simulator alone at max rate, QoS 1, into mosquitto (issue 3's 50,000 messages/s)
  replay      parse + detection against Python's json.loads of the same file (tests/SmartPower.Benchmarks)
  scale       a 1,000,000-device registry: start-up, detector memory per device, steady throughput (SmartPower.Benchmarks)
  connections 10,000 devices, each its own MQTT client and token, connected to `serve` at once, readings flowing
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The build to measure: this repository's, or a copy of its bin/ folders (so that building goes on while a long run measures).
ROOT = os.environ.get("SMARTPOWER_BENCH_BUILD", ROOT)
BIN = {
    "sim": os.path.join(ROOT, "device-sim/bin/Release/net10.0/SmartPower.DeviceSim.dll"),
    "host": os.path.join(ROOT, "functions/SmartPower.Host/bin/Release/net10.0/SmartPower.Host.dll"),
    "bench": os.path.join(ROOT, "tests/SmartPower.Benchmarks/bin/Release/net10.0/SmartPower.Benchmarks.dll"),
}
TICK = os.sysconf("SC_CLK_TCK")


def log(text=""):
    print(text, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU of a process (and its reaped children) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dotnet = subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip()
    mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()
    return {"cores": os.cpu_count(), "cpu": model, "dotnet": dotnet, "mosquitto": mosq[0] if mosq else "?",
            "load": os.getloadavg()}


def mosquitto(d, tokens, extra_users="", extra_conf=""):
    """A mosquitto on a free loopback port whose password file holds the fleet's tokens (hashed by mosquitto_passwd)."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)  # mosquitto, started as root, reads its files as its own user
    passwd = os.path.join(d, "passwd")
    shutil.copy(tokens, passwd)
    with open(passwd, "a") as f:
        f.write(extra_users)
    run(["mosquitto_passwd", "-U", passwd])
    os.chmod(passwd, 0o644)
    port = free_port()
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\npersistence false\n{extra_conf}")
    return start_mosquitto(conf, port), port


def start_mosquitto(conf, port):
    # Its log goes to a file: a pipe nobody reads fills after a few hundred connections' lines (64 KiB), and then
    # mosquitto blocks on it and answers no more CONNECTs (the 1,000-device round stopped at 391 connections).
    log_path = os.path.join(os.path.dirname(conf), "mosquitto.log")
    with open(log_path, "w") as log_file:
        broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=log_file)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return broker
        except OSError:
            if broker.poll() is not None:
                with open(log_path) as f:
                    raise RuntimeError("mosquitto did not start: " + f.read())
            time.sleep(0.1)
    raise RuntimeError("mosquitto did not listen on port %d" % port)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800, **kw)


def timed(cmd, ok=(0,), **kw):
    """Runs a command under /usr/bin/time; returns (stdout, wall s, cpu s, peak RSS MB)."""
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M"] + cmd, capture_output=True, text=True, timeout=1800, **kw)
    if out.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out.stderr)
    return out.stdout, float(m.group(1)), float(m.group(2)) + float(m.group(3)), int(m.group(4)) / 1024


def sim_rate(output):
    m = re.search(r"sent ([\d,]+) messages in ([\d.]+) s \(([\d,]+)/s\); failed ([\d,]+)", output)
    if not m:
        raise RuntimeError("no summary line from the simulator:\n" + output)
    n = lambda s: int(s.replace(",", ""))
    return {"sent": n(m.group(1)), "seconds": float(m.group(2)), "rate": n(m.group(3)), "failed": n(m.group(4))}


class Fleet:
    """A registry, the tokens of its devices, and the load: the simulator's scenario arguments and how many readings they make."""

    def __init__(self, work, scenario_args, host_dll):
        self.dir = os.path.join(work, "fleet")
        self.args = scenario_args
        run(["dotnet", BIN["sim"], "generate", *scenario_args, "--out", self.dir])
        self.registry = os.path.join(self.dir, "registry.json")
        with open(os.path.join(self.dir, "readings.jsonl")) as f:
            self.readings = sum(1 for line in f if '/telemetry"' in line)
        os.remove(os.path.join(self.dir, "readings.jsonl"))
        with open(self.registry) as f:
            self.devices = len(json.load(f)["devices"])
        self.tokens_db = os.path.join(work, "tokens.db")
        self.tokens = os.path.join(work, "tokens.txt")
        with open(self.tokens, "w") as out:
            subprocess.run(["dotnet", host_dll, "tokens", "issue", "--db", self.tokens_db, "--registry", self.registry], stdout=out, check=True)


def mosquitto_relay(work, fleet, rounds_label):
    """The broker-only ceiling: the same load through mosquitto to one QoS 1 subscriber."""
    broker, port = mosquitto(os.path.join(work, "mosquitto"), fleet.tokens, "bench-sub:bench-sub\n",
                             "max_queued_messages 10000000\nmax_inflight_messages 100\n")
    try:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "bench-sub", "-P", "bench-sub", "-i", "bench-sub",
                                "-q", "1", "-t", "smartpower/v1/+/+/+/telemetry", "-C", str(fleet.readings), "-W", "600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        cpu0 = cpu_seconds(broker.pid)
        start = time.monotonic()
        out, wall, sim_cpu, sim_rss = timed(["dotnet", BIN["sim"], "run", "--broker", f"127.0.0.1:{port}", "--password-file", fleet.tokens,
                                            *fleet.args, "--max-rate", "--no-progress"])
        sub.wait(timeout=600)
        received_at = time.monotonic()
        broker_cpu = cpu_seconds(broker.pid) - cpu0
        sim = sim_rate(out)
        return {"what": f"mosquitto relay {rounds_label}", "sim": sim, "received": sub.returncode == 0,
                "relay_rate": fleet.readings / (received_at - start - (wall - sim["seconds"])),
                "broker_cpu_s": broker_cpu, "broker_peak_mb": status_kb(broker.pid, "VmHWM") / 1024,
                "sim_cpu_s": sim_cpu, "load": os.getloadavg()}
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=30)


class Host:
    """`serve` as a process on free ports, with a sampler of /health and /proc."""

    def __init__(self, work, fleet, name, extra, host_dll=None):
        self.dir = os.path.join(work, name)
        shutil.rmtree(self.dir, ignore_errors=True)  # a fresh log and store every round: an old log would be run again
        os.makedirs(self.dir, exist_ok=True)
        db = self.db = os.path.join(self.dir, "host.db")
        shutil.copy(fleet.tokens_db, db)
        self.mqtt, self.http = free_port(), free_port()
        self.out = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen(["dotnet", host_dll or BIN["host"], "serve", "--registry", fleet.registry, "--db", db, "--mqtt-port", str(self.mqtt),
                                      "--http-port", str(self.http), "--rate", "100000", *extra], stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.health()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not start: see " + self.out.name)
                time.sleep(0.2)
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def health(self, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=timeout) as r:
            return json.load(r)

    def _sample(self):
        while not self._stop.is_set():
            try:
                h = self.health()
                r = h["readings"]
                self.samples.append((time.monotonic(), r["accepted"] + r["duplicates"] + r["rejected"], cpu_seconds(self.proc.pid),
                                     status_kb(self.proc.pid, "VmRSS") / 1024, h))
            except (OSError, ValueError):
                pass
            self._stop.wait(0.5)

    def offline_incidents(self):
        """Offline incidents in the store (after stop): the night's real ones, and any a fleet run apart in event time
        causes (opened and cleared at once), the spurious ones of docs/benchmarks.md section 1."""
        with sqlite3.connect(self.db) as store:
            return store.execute("SELECT COUNT(*) FROM alerts WHERE type = 'offline'").fetchone()[0]

    def processed(self):
        return self.samples[-1][1] if self.samples else 0

    def stop(self):
        self._stop.set()
        self._thread.join()
        peak = status_kb(self.proc.pid, "VmHWM") / 1024
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=180)
        self.out.close()
        return peak


def pipeline(work, fleet, fsync, host_dll=None, label="", speed=None, extra=()):
    """The same load through the whole local pipeline; waits until detection has processed every reading.
    speed: paced at that many simulated seconds a second (a sustainable rate) instead of at max rate."""
    name = label + ("serve-fsync" if fsync else "serve-no-fsync") + (f" paced x{speed:g}" if speed else "")
    host = Host(work, fleet, name.replace(" ", "-"), ([] if fsync else ["--no-fsync"]) + list(extra), host_dll)
    try:
        cpu0, t0 = cpu_seconds(host.proc.pid), time.monotonic()
        out, wall, sim_cpu, _ = timed(["dotnet", BIN["sim"], "run", "--broker", f"127.0.0.1:{host.mqtt}", "--password-file", fleet.tokens,
                                       *fleet.args, *(["--speed", f"{speed:g}"] if speed else ["--max-rate"]), "--no-progress"])
        sim = sim_rate(out)
        deadline = time.monotonic() + 300
        while host.processed() < fleet.readings and time.monotonic() < deadline:
            time.sleep(0.25)
        done = time.monotonic()
        cpu = cpu_seconds(host.proc.pid) - cpu0
        health = host.health()
        samples = [s for s in host.samples if s[0] >= t0]
    finally:
        peak = host.stop()
    offline = host.offline_incidents()
    # Sustained: processed readings per second between the first and last sample that moved (connect time excluded).
    moving = [s for s in samples if 0 < s[1] < fleet.readings]
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]) if b[1] > a[1] and a[1] > 0]
    first = next((s for s in samples if s[1] > 0), None)
    sustained = (fleet.readings - first[1]) / (done - first[0]) if first and done > first[0] else 0
    return {"what": name, "sim": sim, "processed": samples[-1][1] if samples else 0, "sustained_rate": sustained,
            "median_interval_rate": statistics.median(rates) if rates else 0, "moving_samples": len(moving),
            "host_cpu_s": cpu, "host_cpu_us_per_reading": cpu * 1e6 / fleet.readings, "host_cores": cpu / max(done - t0, 1e-9),
            "host_peak_mb": peak, "sim_cpu_s": sim_cpu,
            "latency": health.get("alertLatencyMs"), "transitions": health.get("alertTransitionsStored"), "offline_incidents": offline,
            "refused": health.get("refusedAtIngress"), "load": os.getloadavg()}


def throughput(work, sites, hours, rounds, baseline=None, paced=None, variant=None):
    """baseline: another build's host (its bin/ root), run beside this one on the same load in every round.
    variant: `serve` options (one string) for a third host: this build again with them, beside the others.
    paced: a readings/s rate at which each host is also run paced (the simulator at --speed), for latency below saturation."""
    log(f"== throughput: simulator max rate (city-10k, {sites} site(s) of 250 devices, {hours} h of readings), {rounds} round(s)")
    fleet = Fleet(work, ["--scenario", "city-10k", "--sites", str(sites), "--hours", str(hours)], BIN["host"])
    log(f"   {fleet.devices:,} devices, {fleet.readings:,} readings a run")
    hosts = [("", None, ())]
    if baseline:
        hosts.insert(0, ("baseline ", os.path.join(baseline, "functions/SmartPower.Host/bin/Release/net10.0/SmartPower.Host.dll"), ()))
    if variant:
        hosts.append((f"variant [{variant}] ", None, tuple(variant.split())))
    speed = paced * 10 / fleet.devices if paced else None  # every device reads every 10 s of simulated time
    results = []
    for r in range(rounds):
        steps = [lambda: mosquitto_relay(work, fleet, f"round {r + 1}")]
        for fsync in (True, False):
            for label, dll, extra in hosts:
                steps.append(lambda fsync=fsync, label=label, dll=dll, extra=extra: pipeline(work, fleet, fsync, dll, label, extra=extra))
        for label, dll, extra in hosts if speed else []:
            for fsync in (True, False):
                steps.append(lambda fsync=fsync, label=label, dll=dll, extra=extra: pipeline(work, fleet, fsync, dll, label, speed, extra))
        for step in steps:
            result = step()
            result["round"] = r + 1
            results.append(result)
            log("   " + json.dumps(result))
    summary = {}
    for key in dict.fromkeys(x["what"].split(" round")[0] for x in results):
        rows = [x for x in results if x["what"].split(" round")[0] == key]
        rate = [x["relay_rate"] if key == "mosquitto relay" else x["sustained_rate"] for x in rows]
        summary[key] = {"median_rate": statistics.median(rate), "rates": [round(x) for x in rate],
                        "sim_ack_rate": statistics.median([x["sim"]["rate"] for x in rows]),
                        "load": [round(x["load"][0], 1) for x in rows]}
        if key != "mosquitto relay":
            summary[key]["p50_stored_ms"] = statistics.median([x["latency"]["stored"]["p50"] or 0 for x in rows])
            summary[key]["p99_stored_ms"] = statistics.median([x["latency"]["stored"]["p99"] or 0 for x in rows])
            summary[key]["p99_pushed_ms"] = statistics.median([x["latency"]["pushed"]["p99"] or 0 for x in rows])
            summary[key]["transitions"] = statistics.median([x["transitions"] or 0 for x in rows])
            summary[key]["offline_incidents"] = statistics.median([x["offline_incidents"] for x in rows])
            summary[key]["host_cores"] = statistics.median([x["host_cores"] for x in rows])
            summary[key]["host_cpu_us_per_reading"] = statistics.median([x["host_cpu_us_per_reading"] for x in rows])
            summary[key]["host_peak_mb"] = max(x["host_peak_mb"] for x in rows)
    base = summary["mosquitto relay"]["median_rate"]
    for key in summary:
        if key != "mosquitto relay":
            summary[key]["ratio_to_mosquitto"] = summary[key]["median_rate"] / base if base else 0
    log("   summary " + json.dumps(summary, indent=1))
    return {"fleet": {"devices": fleet.devices, "readings": fleet.readings, "args": fleet.args}, "runs": results, "summary": summary}


def simulator(work, rounds):
    """Issue 3's figure: the simulator's max rate into mosquitto (no subscriber), 100 and 1,000 devices."""
    log(f"== simulator max rate into mosquitto, {rounds} round(s)")
    out = {}
    for label, args in (("100 devices", ["--scenario", "city-10k", "--sites", "1", "--dwellings", "80", "--common-areas", "10", "--piles", "10", "--hours", "10"]),
                        ("1,000 devices", ["--scenario", "city-10k", "--sites", "4", "--hours", "1"])):
        fleet = Fleet(os.path.join(work, "sim-" + label.split()[0].replace(",", "")), args, BIN["host"])
        broker, port = mosquitto(os.path.join(work, "sim-mosq"), fleet.tokens)
        try:
            rows = []
            for qos in ("1", "0"):
                for _ in range(rounds):
                    cpu0 = cpu_seconds(broker.pid)
                    text, wall, sim_cpu, rss = timed(["dotnet", BIN["sim"], "run", "--broker", f"127.0.0.1:{port}", "--password-file", fleet.tokens,
                                                      *args, "--max-rate", "--qos", qos, "--no-progress"])
                    s = sim_rate(text)
                    row = {"qos": qos, **s, "sim_cpu_us_per_msg": sim_cpu * 1e6 / s["sent"], "broker_cpu_us_per_msg": (cpu_seconds(broker.pid) - cpu0) * 1e6 / s["sent"],
                           "sim_peak_mb": rss, "load": os.getloadavg()}
                    rows.append(row)
                    log(f"   {label} " + json.dumps(row))
        finally:
            broker.send_signal(signal.SIGTERM)
            broker.wait(timeout=30)
        out[label] = {"args": args, "devices": fleet.devices, "runs": rows,
                      "median_rate_qos1": statistics.median([r["rate"] for r in rows if r["qos"] == "1"]),
                      "median_rate_qos0": statistics.median([r["rate"] for r in rows if r["qos"] == "0"])}
        log(f"   {label}: median {out[label]['median_rate_qos1']:,}/s at QoS 1, {out[label]['median_rate_qos0']:,}/s at QoS 0")
    return out


def benchmarks(verb, *args):
    log(f"== {verb} {' '.join(args)} (tests/SmartPower.Benchmarks)")
    text, wall, cpu, rss = timed(["dotnet", BIN["bench"], verb, *args], ok=(0, 1))  # 1: a goal missed, which is a result
    for line in text.splitlines():
        log("   " + line)
    return {"output": text, "wall_s": wall, "peak_mb": rss, "load": os.getloadavg()}


def connections(work, devices, seconds):
    log(f"== {devices:,} concurrent device connections to serve, each its own MQTT client and token, {seconds} s of readings")
    sites = max(1, devices // 250)
    fleet = Fleet(work, ["--scenario", "city-10k", "--sites", str(sites), "--hours", "0.01"], BIN["host"])
    host = Host(work, fleet, "serve-connections", ["--no-fsync"])
    try:
        rss0 = status_kb(host.proc.pid, "VmRSS") / 1024
        t0 = time.monotonic()
        sim = subprocess.Popen(["dotnet", BIN["sim"], "run", "--broker", f"127.0.0.1:{host.mqtt}", "--password-file", fleet.tokens, "--scenario", "city-10k",
                                "--sites", str(sites), "--hours", f"{max(seconds, 36) / 3600:.4f}", "--start", "2026-11-26T12:00:00Z", "--speed", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = sim.communicate(timeout=seconds + 600)[0]
        wall = time.monotonic() - t0
        connected = re.search(r"connected all ([\d,]+) devices in ([\d.]+) s", text)
        h = host.health(timeout=60)  # 10,000 devices have just left: the host may be busy a while
        rss = status_kb(host.proc.pid, "VmRSS") / 1024
        samples = list(host.samples)
    finally:
        peak = host.stop()
    result = {"devices": fleet.devices, "connect_s": float(connected.group(2)) if connected else None, "sim": sim_rate(text), "wall_s": wall,
              "accepted": h["readings"]["accepted"], "status_messages": h["readings"]["statusMessages"], "refused": h["refusedAtIngress"],
              "host_rss_before_mb": rss0, "host_rss_connected_mb": rss, "host_peak_mb": peak,
              "host_cpu_s": samples[-1][2] - samples[0][2] if samples else None, "load": os.getloadavg()}
    log("   " + json.dumps(result))
    log("   simulator: " + " | ".join(l for l in text.splitlines() if l.startswith(("run:", "sent", "connected"))))
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="throughput,simulator,replay,scale,connections", help="comma-separated parts to run: throughput, simulator, replay, scale, connections")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sites", type=int, default=4, help="throughput fleet: sites of 250 devices (city-10k)")
    p.add_argument("--hours", type=float, default=1, help="throughput load: hours of readings every 10 s per device")
    p.add_argument("--devices", type=int, default=1_000_000, help="scale: registry size")
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--connection-seconds", type=int, default=60)
    p.add_argument("--json", help="also write every figure here")
    p.add_argument("--baseline-build", help="throughput: also run the host of this other build (a checkout with its Release bin/) on the same load")
    p.add_argument("--paced", type=float, help="throughput: also run each host paced at this many readings/s (latency below saturation)")
    p.add_argument("--variant", help="throughput: also run this build's host with these `serve` options, e.g. \"--max-lag-kb 32\"")
    a = p.parse_args()
    parts = a.only.split(",")
    work = tempfile.mkdtemp(prefix="smartpower-bench-")
    os.chmod(work, 0o755)  # mosquitto, started as root, reads its files as its own user
    report = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "args": vars(a)}
    log("machine: " + json.dumps(report["machine"]))
    try:
        if "simulator" in parts:
            report["simulator"] = simulator(work, a.rounds)
        if "throughput" in parts:
            report["throughput"] = throughput(work, a.sites, a.hours, a.rounds, a.baseline_build, a.paced, a.variant)
        if "replay" in parts:
            report["replay"] = benchmarks("replay-vs-python", "300000", str(max(3, a.rounds)))
        if "scale" in parts:
            report["scale"] = benchmarks("scale", str(a.devices))
        if "connections" in parts:
            report["connections"] = connections(work, a.connections, a.connection_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["load_at_end"] = os.getloadavg()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    log(f"done; load average at the end {report['load_at_end']}")


if __name__ == "__main__":
    sys.exit(main())
