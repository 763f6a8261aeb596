"""gunicorn's master serves the sum of its workers' metrics on METRICS_PORT.

prometheus_client's multiprocess mode: each worker writes its values to files of its
own in PROMETHEUS_MULTIPROC_DIR (`project.metrics`), which gunicorn.conf.py wipes at
start. A scrape adds up every file there (`MultiProcessCollector.merge`), plus what
workers that have exited had counted: when one exits, its counter and histogram files
are added to what the master keeps of workers gone and removed, and its live gauges'
files go (`mark_process_dead`). So a worker that dies or is replaced loses no count,
and the directory holds the files of the live workers only.

The master's own port, not a route of the app: nginx's public server never reaches it,
and a scrape needs no worker free.
"""

import glob
import os
import threading

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# The files of a worker's counters and histograms; its gauges' go with mark_process_dead.
COUNTING_FILES = ("counter_{pid}.db", "histogram_{pid}.db")


class MetricsExporter:
    """Every worker's metrics, those of workers gone included, on one HTTP port."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.gone = []  # the metrics of the workers that have exited, added up

    def serve(self, host, port):
        """Answer scrapes on `host`:`port`, from a thread of this (the master) process."""
        registry = CollectorRegistry()
        registry.register(self)
        start_http_server(port, host, registry=registry)

    def collect(self):
        """What a scrape reads: the live workers' files, plus the workers gone."""
        with self.lock:
            files = glob.glob(os.path.join(self.directory, "*.db"))
            return add_up(MultiProcessCollector.merge(files), self.gone)

    def worker_exited(self, pid):
        """Keep what worker `pid` counted, and remove its files."""
        mark_process_dead(pid, self.directory)
        paths = [os.path.join(self.directory, name.format(pid=pid)) for name in COUNTING_FILES]
        paths = [path for path in paths if os.path.exists(path)]
        with self.lock:
            self.gone = add_up(MultiProcessCollector.merge(paths), self.gone)
            for path in paths:
                os.remove(path)


def add_up(*groups):
    """Add metrics sample by sample (same name and labels), a metric at a time.

    Right for counters and for histograms in their exposed form (cumulative buckets,
    count and sum); the live gauges come from the live files only.
    """
    totals = {}
    for metric in (metric for group in groups for metric in group):
        header, values = totals.setdefault(
            metric.name, (Metric(metric.name, metric.documentation, metric.type), {}))
        for sample in metric.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = values.get(key, 0.0) + sample.value
    for header, values in totals.values():
        for (name, labels), value in values.items():
            header.add_sample(name, dict(labels), value)
    return [header for header, _ in totals.values()]
