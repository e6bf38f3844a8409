def test_the_directory_lists_an_active_doctor(client, factory):
    doc = factory.create_doctor(name="Dr. Smoke Test", hours=())
    page = client.get("/doctors/").get_data(as_text=True)
    assert "Dr. Smoke Test" in page
    assert str(doc.id) in page
