"""Server-rendered pages and the small endpoints their scripts read, a module per page.

Thin: reads come from selectors, writes go to services, and whatever a person
reads is written by jobs.formatting. Every page needs a login; a tuning job
(or training job) that the user may not see is a 404 on every page and
endpoint, exactly like one that does not exist, and a viewer gets a 403 where
only an operator may act.

Live data reaches the pages over the websocket (jobs.consumers); the endpoints
serve what a socket does not carry: the training-jobs table (an HTML partial
the page swaps in), the training jobs' hyperparameters for the charts, one
training job's metrics and log.
"""
