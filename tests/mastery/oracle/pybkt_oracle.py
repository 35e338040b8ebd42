"""Run pyBKT (the reference BKT implementation) once, with fixed parameters, on the planted
sequences of tests/mastery/test_bkt_oracle.py, and print the estimates that test pins (pybkt-1.4.3.json).

Not part of the test run (pyBKT pulls numpy, pandas and scikit-learn). To re-run::

    python3 -m venv /tmp/pybkt && /tmp/pybkt/bin/pip install pyBKT==1.4.3
    # pyBKT 1.4.3 predates the newer scikit-learn, numpy and pandas
    /tmp/pybkt/bin/pip install "scikit-learn==1.4.2" "numpy<2" "pandas<2.2"
    /tmp/pybkt/bin/python tests/mastery/oracle/pybkt_oracle.py > tests/mastery/oracle/pybkt-1.4.3.json

pyBKT's ``predict`` gives, for each answer, ``state_predictions``: P(mastered) before that
answer given the answers before it, which is what eduengine stores after each of them.
"""

# mypy: ignore-errors
# ruff: noqa

import json

import numpy as np
import pandas as pd
from pyBKT.models import Model

#: (name, prior, learn, guess, slip, forget, answers of one student, in order)
CASES = [
    ("fractions", 0.2, 0.15, 0.2, 0.1, 0.0, [1, 1, 0, 1, 1, 1, 0, 1, 1, 1]),
    ("decimals", 0.5, 0.3, 0.25, 0.05, 0.0, [0, 0, 0, 1, 0, 1, 1, 1]),
    ("phonics", 0.1, 0.05, 0.3, 0.2, 0.02, [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1]),
]


def run(name, prior, learn, guess, slip, forget, answers):
    # pyBKT drops the last answer's update from state_predictions; a trailing dummy answer
    # makes it report the state after every real one
    rows = answers + [1]
    df = pd.DataFrame(
        {
            "order_id": list(range(len(rows))),
            "user_id": ["ann"] * len(rows),
            "skill_name": [name] * len(rows),
            "correct": rows,
        }
    )
    model = Model(seed=0, num_fits=1)
    model.coef_ = {
        name: {
            "prior": prior,
            "learns": np.array([learn]),
            "forgets": np.array([forget]),
            "guesses": np.array([guess]),
            "slips": np.array([slip]),
        }
    }
    model.fit(data=df, forgets=forget > 0, preload=True)
    # preload skips EM but keeps the random initial matrices: pin every one of them to
    # the parameters (pyBKT's layout: As[resource][to][from], emissions[part][state][obs])
    fitted = model.fit_model[name]
    fitted["As"] = np.array([[[1 - learn, forget], [learn, 1 - forget]]])
    fitted["emissions"] = np.array([[[1 - guess, guess], [slip, 1 - slip]]])
    fitted["pi_0"] = np.array([[1 - prior], [prior]])
    fitted.update(
        prior=prior,
        learns=np.array([learn]),
        forgets=np.array([forget]),
        guesses=np.array([guess]),
        slips=np.array([slip]),
    )
    predicted = model.predict(data=df)
    states = [float(v) for v in predicted["state_predictions"]]
    correct = [float(v) for v in predicted["correct_predictions"]]
    return {"state_predictions": states, "correct_predictions": correct}


if __name__ == "__main__":
    out = {case[0]: run(*case) for case in CASES}
    print(json.dumps(out, indent=1))
