"""Domain model of an adult social care market: entities, parameters and the market models.

Nothing in this package touches Flask, sqlite-utils or APScheduler: the store and the web app
import it, never the other way round.
"""
