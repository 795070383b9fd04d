"""The hand-written parts of the images schemas stay in step with the models: the multipart
body offers exactly the file plus the fields ImageFields parses, so a field added to the model
cannot be missing from the documented upload form (where `additionalProperties: false` would
make it invalid by the document)."""

from __future__ import annotations

from imgpro.images.schemas import ImageFields, multipart_body


def test_the_multipart_body_documents_every_settable_field() -> None:
    schema = multipart_body()["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"file", *ImageFields.model_fields}
