"""Generated container names (adjective_noun), like Docker's."""

import os

_ADJ = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "young", "zesty")
_NOUN = ("otter", "falcon", "maple", "comet", "badger", "cedar", "heron", "lynx", "orca",
         "panda", "quartz", "raven", "sparrow", "tiger", "walrus", "yak", "zebra", "koala",
         "gecko", "bison")


def generate() -> str:
    r = os.urandom(4)
    return f"{_ADJ[r[0] % len(_ADJ)]}_{_NOUN[r[1] % len(_NOUN)]}_{r[2:].hex()}"
