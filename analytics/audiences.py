"""Audiences: a named set of users picked by a rule, to store, export, target or compare models on.

Journeys (users who dropped off at a funnel step, a cohort cell), social channels
(users who engaged with a post or campaign) and segments all produce the same
:class:`Audience`; the workspace stores it under its dataset
(:meth:`analytics.workspace.Workspace.save_audience`) and the Models page can use
it as a segment (in the audience or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe


@dataclass(frozen=True)
class Audience:
    """Users picked by a rule.

    Attributes
    ----------
    name : str
        A default name for the saved audience (the user may change it).
    description : str
        How the users were picked, in one sentence a marketer reads.
    users : DataFrame
        ``user_id`` first, then context columns (when they reached a step, how often they engaged, ...).
    rule : dict
        The parameters that picked them (JSON-safe), stored with the audience.
    """

    name: str
    description: str
    users: pd.DataFrame
    rule: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "user_id" not in self.users.columns:
            raise InvalidParameterError("An audience needs a 'user_id' column.")

    @property
    def size(self) -> int:
        return len(self.users)

    def to_dict(self) -> dict:
        return json_safe({"name": self.name, "description": self.description, "rule": self.rule,
                          "users": self.size})


def membership(audience: Audience, user_ids: pd.Series | list | object) -> pd.DataFrame:
    """Every given user as a member of the audience or not, for use as a two-group segmentation.

    Parameters
    ----------
    audience : Audience
    user_ids : sequence of user ids
        The population (all users of a dataset, the users of a training set, ...).

    Returns
    -------
    DataFrame
        ``user_id`` (text) and ``segment``: ``"in <name>"`` or ``"not in <name>"``.
    """
    ids = pd.Series(pd.unique(pd.Series(user_ids, dtype="object").astype(str)), dtype="object")
    inside = ids.isin(set(audience.users["user_id"].astype(str)))
    return pd.DataFrame({"user_id": ids, "segment": inside.map({True: f"in {audience.name}",
                                                                False: f"not in {audience.name}"})})
