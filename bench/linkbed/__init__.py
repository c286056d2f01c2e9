"""An independent person-linkage test bed: people from Faker's locales, a corruption model of our own,
several source schemas written as IBR homes, plain Splink 5 scripts written for each schema, and a
harness that scores the pipeline and the scripts in the same run (`python -m bench.linkbed`).

It imports nothing from `synthetic/`: the point is data the pipeline was not tuned on.
"""
