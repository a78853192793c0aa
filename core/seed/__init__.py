"""A synthetic registry for demos, load tests and checks: names, generator, bulk loader, demo list.

``spsr seed`` loads it (:func:`core.seed.loader.seed_registry`); ``spsr demo`` lists citizens to
try (:func:`core.seed.demo.demo_citizens`). Nothing here is real data: people, numbers and
mahallas are made up; only the territory down to districts comes from public sources.
"""
