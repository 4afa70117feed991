# -*- test-case-name: tests.web.test_rest, tests.integration.test_metrics -*-
"""
Reading C{/metrics}: the Prometheus text exposition as a dict.
"""

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["samples", "value"]


def samples(text):
    """
    C{{(sample name, frozenset of label pairs): value}} of an exposition.
    """
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = \
                sample.value
    return found


def value(found, name, **labels):
    """
    The value of sample C{name} with exactly C{labels} in C{found}.
    """
    return found[(name, frozenset(labels.items()))]
