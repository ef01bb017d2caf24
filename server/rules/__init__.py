"""Pure decisions: no database, no Flask, no request.

- ``states``: the ticket state machine; ``routing``: who is called next (a pure function of the
  counter's profile and the waiting heads); ``eta``: estimated wait; ``calendar`` and
  ``workdays``: business and working days in the site's time zone; ``dossier_states``: the
  dossier's steps; ``advice``: Erlang C staffing.
- ``fields``: the one set of field rules for sites, services, counters and codes, used by the
  admin console, the configuration file, the command line and the API.
"""
