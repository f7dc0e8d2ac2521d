"""What machine a benchmark ran on, for the headers of bench/results tables."""

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    return f"{os.cpu_count()} CPU cores ({cpu_model()}), {platform.system()} {platform.machine()}"
