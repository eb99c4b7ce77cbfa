"""The router's problem details: the shared ``forescale/web/problem.py``, re-exported under
the names router modules import (``Problem``, ``response``, ``from_problem``)."""

from __future__ import annotations

from forescale.web.problem import PROBLEM_JSON, Problem, from_problem, problem_middleware, response

PROBLEM_TYPE = PROBLEM_JSON

__all__ = ["PROBLEM_JSON", "PROBLEM_TYPE", "Problem", "from_problem", "problem_middleware", "response"]
