"""The publisher packs a message's properties itself (shared/publisher.py `properties_bytes`):
its bytes must be exactly py-amqp's, for every value type py-amqp accepts."""
from __future__ import annotations

import amqp
from hypothesis import example, given
from hypothesis import strategies as st

from shared.publisher import properties_bytes

short_text = st.text(max_size=40)
integer = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.sampled_from([-(2**31), -(2**31) + 1, 2**31 - 1, 2**31]))  # py-amqp's 32-bit switch
packed_here = st.one_of(st.text(max_size=20), integer)  # what properties_bytes packs itself
header_value = st.one_of(
    packed_here, st.binary(max_size=10), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=2),
)
headers = st.one_of(st.dictionaries(st.text(max_size=10), packed_here, max_size=4),
                    st.dictionaries(st.text(max_size=10), header_value, max_size=4))
properties = st.fixed_dictionaries({}, optional={
    "content_type": short_text, "content_encoding": short_text, "delivery_mode": st.sampled_from([1, 2]),
    "priority": st.integers(0, 9), "correlation_id": short_text, "reply_to": short_text,
    "expiration": short_text, "message_id": short_text, "timestamp": st.integers(0, 2**40),
    "type": short_text, "user_id": short_text, "app_id": short_text, "cluster_id": short_text,
    "application_headers": headers,
})


@given(properties)
@example({"application_headers": {"position": -(2**31)}})
@example({"application_headers": {"position": 2**31}})
def test_properties_pack_to_py_amqps_bytes(values):
    message = amqp.Message(b"body", **values)
    assert properties_bytes(message.properties) == message._serialize_properties()


def test_what_kopnet_sends_is_packed_by_the_fast_path_and_unset_properties_are_left_out():
    message = amqp.Message(b"{}", content_type="application/json", delivery_mode=2, message_id="e-1",
                           type="ledger.JournalEntryPosted", application_headers={"position": 2**31 - 1},
                           correlation_id=None)
    packed = properties_bytes(message.properties)
    assert packed == message._serialize_properties()
    # flags: content_type, application_headers, delivery_mode | message_id, type
    assert packed[:2] == bytes([0b1011_0000, 0b1010_0000])
