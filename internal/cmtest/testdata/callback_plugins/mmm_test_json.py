# A stdout callback for the test: the play's task results and stats as one
# JSON document (ansible-core ships no json callback; ansible.posix's is a
# separate collection). Only what cm_test.go reads.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: mmm_test_json
    type: stdout
    short_description: task results as JSON, for mmm's cmtest
    description: task results as JSON, for mmm's cmtest
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'mmm_test_json'

    def __init__(self):
        super().__init__()
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({'task': {'name': task.name}, 'hosts': {}})

    def _record(self, result, **extra):
        r = dict(result._result)
        keep = {k: r[k] for k in ('changed', 'failed', 'skipped', 'msg', 'stdout', 'stderr', 'rc') if k in r}
        keep.update(extra)
        self.tasks[-1]['hosts'][result._host.get_name()] = keep

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, failed=True, msg='unreachable')

    def v2_playbook_on_stats(self, stats):
        out = {'plays': [{'tasks': self.tasks}], 'stats': {}}
        for h in sorted(stats.processed.keys()):
            s = stats.summarize(h)
            out['stats'][h] = {'changed': s['changed'], 'failures': s['failures'] + s['unreachable'], 'ok': s['ok']}
        self._display.display(json.dumps(out))
