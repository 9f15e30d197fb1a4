"""Hand-written name lists across many locales, and the ways notes write a name.

These lists were typed for this corpus, not copied from Faker, names-dataset or
gender-guesser: the scrubber may use those as gazetteers, and a corpus drawn from the same
source would flatter it. ``HELDOUT_*`` values are drawn only for held-out seeds, and in
held-out mode about one name in ten is built from syllables, so no gazetteer holds it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.deid_corpus.builder import Ident


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# locale: (female first names, male first names, surnames)
LOCALES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "british": (
        _w(
            "Kerry Sharon Gemma Hayley Lorraine Bethany Jodie Tracey Maureen Pauline Joanne "
            "Stacey Leanne Kirsty Carol Jean Brenda Elaine Wendy Amelia Poppy Harriet"
        ),
        _w(
            "Dave Gary Darren Wayne Lee Craig Trevor Keith Barry Colin Nigel Graham Stuart "
            "Dean Ryan Callum Alfie Harvey Reece Jamie Glen Derek"
        ),
        _w(
            "Smith Jones Taylor Brown Wilson Thompson Walker Robinson Wright Hughes Edwards "
            "Green Hall Wood Harris Clarke Jackson Turner Hill Cooper Ward Morris Baker "
            "Parker Bennett Cook Bell Shaw Marsh Fletcher Pickering Smith-Jones Ashworth "
            "Cartwright Hollis Whitlock Gosling Pennington"
        ),
    ),
    "irish": (
        _w("Siobhan Niamh Aoife Roisin Orla Ciara Grainne Sinead Maeve Aisling"),
        _w("Sean Ciaran Padraig Eoin Declan Cormac Niall Fergal Donal Oisin"),
        _w(
            "O'Neill O'Brien Murphy Kelly Byrne Doyle McCarthy O'Sullivan Gallagher Quinn "
            "Flanagan Brennan O'Connor Kavanagh McGuinness"
        ),
    ),
    "scottish_welsh": (
        _w("Morag Eilidh Catriona Isla Rhiannon Sian Ffion Carys Bronwen"),
        _w("Hamish Angus Fraser Lachlan Dafydd Rhys Gareth Iwan Emyr"),
        _w(
            "MacLeod Campbell Fraser McKenzie Munro Stewart Evans Pritchard Llewellyn "
            "Vaughan Griffiths Powell"
        ),
    ),
    "south_asian": (
        _w(
            "Priya Anjali Sunita Kavita Shreya Nisha Pooja Meera Harpreet Jaspreet Farzana "
            "Nusrat Shabana Ayesha Rukhsana Deepa"
        ),
        _w(
            "Rajesh Sanjay Vikram Arjun Amit Rohan Harjit Gurpreet Imran Tariq Asif Faisal "
            "Kamal Suresh Anil Mohinder"
        ),
        _w(
            "Patel Shah Sharma Singh Kaur Gupta Mehta Desai Chauhan Malik Hussain Iqbal "
            "Chowdhury Rahman Begum Joshi Nair Pillai Sandhu Gill Bhatti Mistry"
        ),
    ),
    "west_african": (
        _w(
            "Chidinma Ngozi Adaeze Folake Yetunde Abena Akosua Efua Funmilayo Titilayo "
            "Blessing Precious"
        ),
        _w("Chidi Emeka Obinna Tunde Oluwaseun Kwame Kofi Kwabena Babatunde Ikenna Adebayo Segun"),
        _w(
            "Okafor Nwosu Adeyemi Okonkwo Balogun Mensah Asante Boateng Oyelaran Eze "
            "Adebisi Olawale Ogunleye Nnamdi Owusu"
        ),
    ),
    "east_african": (
        _w("Wanjiru Achieng Nyambura Auma Makena Zawadi Tigist Selam Hiwot"),
        _w("Kamau Otieno Mwangi Baraka Juma Tesfaye Dawit Yonas Abebe"),
        _w("Kiprono Wanjala Odhiambo Njoroge Mutua Kibet Haile Gebremariam Alemu"),
    ),
    "somali": (
        _w("Hodan Fadumo Ayan Sahra Hibaaq Idil Nimco"),
        _w("Abdirahman Abdullahi Mahad Liban Guled Hassan"),
        _w("Warsame Farah Jama Hersi Abdi Osman Nur"),
    ),
    "chinese": (
        _w("Mei Xiu Ling Yan Hui Jing Xiaoming Wen Li Na"),
        _w("Wei Jun Hao Jian Zhiwei Tao Bo Cheng Qiang"),
        _w("Wang Li Zhang Chen Liu Huang Zhao Wu Zhou Xu Lin Tang Cheung Wong Leung"),
    ),
    "vietnamese": (
        _w("Linh Thao Huong Trang Ngoc Phuong Anh"),
        _w("Minh Duc Tuan Quang Khoa Huy Thanh"),
        _w("Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do"),
    ),
    "polish": (
        _w("Agnieszka Katarzyna Malgorzata Joanna Zofia Magdalena Ewa Dorota"),
        _w("Piotr Krzysztof Tomasz Pawel Marcin Grzegorz Jakub Wojciech"),
        _w(
            "Nowak Kowalski Wisniewska Wojcik Kaminski Lewandowska Zielinski Szymanska "
            "Dabrowski Kozlowski Jankowska"
        ),
    ),
    "romanian": (
        _w("Ioana Andreea Mihaela Florentina Roxana Alina"),
        _w("Ionut Mihai Florin Bogdan Catalin Razvan"),
        _w("Popescu Ionescu Dumitrescu Constantin Stoica Munteanu Moldovan"),
    ),
    "portuguese": (
        _w("Joana Ines Mariana Beatriz Leonor Raquel"),
        _w("Joao Tiago Rui Nuno Goncalo Duarte"),
        _w("Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Sousa Carvalho"),
    ),
    "turkish": (
        _w("Elif Zeynep Ayse Emine Merve Gulsen"),
        _w("Mehmet Mustafa Emre Burak Kemal Serkan"),
        _w("Yilmaz Kaya Demir Sahin Celik Yildiz Aydin Ozturk Arslan"),
    ),
    "arabic": (
        _w("Fatima Mariam Noor Layla Huda Amira Rania Samira"),
        _w("Mohammed Ahmed Omar Khalid Yousef Karim Samir Hamza"),
        _w("Al-Sayed Haddad Khalil Mansour Nasser Al-Rashid Saleh Aziz El-Amin"),
    ),
    "caribbean": (
        _w("Marcia Beverley Claudette Paulette Yvonne Sonia Jacqueline"),
        _w("Delroy Winston Errol Leroy Clive Desmond Neville"),
        _w("Campbell Brown Francis Gayle Henry Bailey Samuels Thomas Grant McKenzie"),
    ),
    # First names that are ordinary words: only ever written where a cue says "person".
    "word": (
        _w(
            "Hope Ivy Rose Grace Faith Joy Dawn Hazel Holly Iris Lily Daisy Ruby Pearl "
            "Amber Summer Autumn Heather Robin Crystal Penny Jade"
        ),
        _w("Will Mark Bill Frank Dean Grant Miles Drew Chase Sonny Rusty Buck Guy Jack"),
        _w("King Young Stone Fox Lamb Moss Hope Day May Rich Little Hunter Church Bishop"),
    ),
}

# Drawn only for held-out seeds: tuning never sees these strings.
HELDOUT_LOCALES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "heldout": (
        _w(
            "Oyinkansola Chiamaka Roksana Tahmina Bogumila Wiesława Nkechi Thandiwe "
            "Ebele Ximena Yaretzi Saoirse Ailbhe Dilnoza Gulnara Anahita Parveen Vui "
            "Tuyet Mercy Lovely Destiny Treasure Meadow"
        ),
        _w(
            "Chukwuemeka Olumide Tadeusz Przemyslaw Dragos Sorin Anselm Obafemi Tendai "
            "Farhad Shahid Nikhil Ruairi Tadhg Cosmin Baptiste Honour Noble Sterling"
        ),
        _w(
            "Ogundipe Nwachukwu Przybylski Grzelak Vasilescu Tudorache Abeysekera "
            "Ramaswamy Thirunavukkarasu Mukherjee Quaye Agyeman-Duah Ferreira-Lopes "
            "MacGiollaPhadraig NicAodha O'Callaghan-Reid Trinh Vuong Karakaya Bellingham "
            "Loveday Goodbody Rainbird Stillwell"
        ),
    ),
}

_ONSETS = _w("b d f g h k l m n p r s t v z ch sh th br kr tr dr gr pl kl")
_VOWELS = _w("a e i o u a e i o ai ou ei ia")
_CODAS = ("", "", "", "n", "r", "l", "s", "m", "k", "th", "nd", "rk")


def synthesised(rng: random.Random, syllables: int) -> str:
    """A pronounceable name no gazetteer contains (built from syllables)."""
    parts = [
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
    ]
    return "".join(parts).capitalize()


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a note may name: a first name, a surname and a sex (for kinship words)."""

    first: str
    last: str
    sex: str  # "F" or "M"

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


class NamePool:
    """Draws people; held-out mode mixes in held-out-only and synthesised names."""

    def __init__(self, rng: random.Random, heldout: bool) -> None:
        self.rng = rng
        self.heldout = heldout
        self.locales = dict(LOCALES)
        if heldout:
            self.locales.update(HELDOUT_LOCALES)
        self._names = list(self.locales)

    def _locale(self) -> str:
        if self.heldout and self.rng.random() < 0.25:
            return "heldout"
        name = self.rng.choice(self._names)
        return "british" if name == "heldout" else name

    def first(self, sex: str, locale: str | None = None) -> str:
        if self.heldout and self.rng.random() < 0.1:
            return synthesised(self.rng, self.rng.choice((2, 2, 3)))
        female, male, _ = self.locales[locale or self._locale()]
        return self.rng.choice(female if sex == "F" else male)

    def surname(self, locale: str | None = None) -> str:
        if self.heldout and self.rng.random() < 0.1:
            return synthesised(self.rng, self.rng.choice((2, 3, 3)))
        return self.rng.choice(self.locales[locale or self._locale()][2])

    def person(self, sex: str | None = None, surname: str | None = None) -> Person:
        """Mostly one locale for both names; one person in five mixes (families do)."""
        sex = sex or self.rng.choice("FM")
        locale = None if self.rng.random() < 0.2 else self._locale()
        return Person(self.first(sex, locale), surname or self.surname(locale), sex)

    def word_name(self, sex: str) -> str:
        """A first name that is also an ordinary word (Hope, Will, Ivy ...)."""
        female, male, _ = LOCALES["word"]
        return self.rng.choice(female if sex == "F" else male)


# ------------------------------------------------------------------- how names are written
FORMS = (
    "full",  # Chidi Okafor
    "first",  # Chidi
    "last",  # Okafor
    "caps",  # CHIDI OKAFOR
    "surname_first",  # OKAFOR, Chidi
    "surname_first_caps",  # OKAFOR, CHIDI
    "initial_dot",  # C. Okafor
    "initial_nodot",  # C Okafor
    "initial_tight",  # C.Okafor
    "lower_full",  # chidi okafor
    "lower_first",  # chidi
    "lower_last",  # okafor
)


def render(person: Person, form: str) -> str:
    """``person`` written in one of :data:`FORMS`."""
    first, last = person.first, person.last
    return {
        "full": f"{first} {last}",
        "first": first,
        "last": last,
        "caps": f"{first} {last}".upper(),
        "surname_first": f"{last.upper()}, {first}",
        "surname_first_caps": f"{last}, {first}".upper(),
        "initial_dot": f"{first[0]}. {last}",
        "initial_nodot": f"{first[0]} {last}",
        "initial_tight": f"{first[0]}.{last}",
        "lower_full": f"{first} {last}".lower(),
        "lower_first": first.lower(),
        "lower_last": last.lower(),
    }[form]


def name(person: Person, form: str) -> Ident:
    return Ident(render(person, form), "PERSON")


STAFF_ROLES = _w("SN HCA CNS FY1 FY2 SpR Reg Cons Sister Matron ST3 CT1 SHO RN RMN ODP")
TITLES = _w("Mr Mrs Ms Miss Dr")
QUALIFICATIONS = (
    "MBChB MRCP",
    "MBBS FRCS",
    "MB BCh BAO MRCPsych",
    "BSc MBBS FRCA",
    "MBChB MRCGP",
    "MD FRCP",
    "RGN",
    "BSc (Hons) RN",
    "MCSP",
)
