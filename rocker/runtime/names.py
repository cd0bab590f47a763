"""Generated container names (adjective_noun), like Docker's."""

import secrets

_ADJ = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "young", "zesty")
_NOUN = ("otter", "falcon", "maple", "comet", "badger", "cedar", "heron", "lynx", "orca",
         "panda", "quartz", "raven", "sparrow", "tiger", "walrus", "yak", "zebra", "koala",
         "gecko", "bison")


def generate() -> str:
    return f"{secrets.choice(_ADJ)}_{secrets.choice(_NOUN)}_{secrets.token_hex(2)}"
