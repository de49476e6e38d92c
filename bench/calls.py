"""Sync calls of per-call functions through a gateway, one connection, one
call at a time, for bench/docker.sh and bench/gvisor.sh. For a warm function
each call waits until a warm container is ready (the pool refills between
calls), so what is measured is the call, not the refill."""
import http.client
import time


class Calls:
    def __init__(self, port, runs):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.runs = runs

    def metric(self, name, function):
        """A series of `function` in /metrics, 0 when absent."""
        series = f'{name}{{function_name="{function}"}}'
        self.conn.request("GET", "/metrics")
        for line in self.conn.getresponse().read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def call(self, function):
        """One sync call of `function` with a body it echoes; its time in ms."""
        t = time.perf_counter()
        self.conn.request("POST", f"/function/{function}", body=b"hello")
        answer = self.conn.getresponse()
        body = answer.read()
        assert answer.status == 200 and body == b"hello", (answer.status, body)
        return (time.perf_counter() - t) * 1000

    def measure(self, function, warm):
        """p50 and p99 of `runs` calls, after a first one that starts the pool."""
        self.call(function)
        times = []
        for _ in range(self.runs):
            if warm:
                deadline = time.time() + 30
                while self.metric("faas_pool_ready", function) < 1 and time.time() < deadline:
                    time.sleep(0.02)
            times.append(self.call(function))
        times.sort()
        pct = lambda p: times[min(len(times) - 1, round((len(times) - 1) * p))]
        return {"p50_ms": pct(0.5), "p99_ms": pct(0.99)}
