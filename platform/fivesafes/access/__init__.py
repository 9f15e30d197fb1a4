"""Safe people and safe projects: projects, data access requests, reviews, grants.

Every "may this subject do this to that" goes through :func:`fivesafes.access.decide.decide`,
a pure function of the subject, the action, facts about the resource, the access policy
(``policies/access.yaml``) and the time.
"""
