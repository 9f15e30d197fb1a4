"""Hand-listed UK places, streets, postcodes and organisations.

Towns and villages of many sizes, hyphenated ones included; streets whose first word
looks like a first name ("Jessica Road"); organisations of the kinds notes mention (GP
practices, care homes, schools, employers, charities, councils, other hospitals).
``HELDOUT_*`` values are drawn only for held-out seeds.
"""

from __future__ import annotations

import random

from tests.deid_corpus.builder import Ident


def _lines(text: str) -> tuple[str, ...]:
    return tuple(" ".join(item.split()) for item in text.split(",") if item.strip())


TOWNS = _lines(
    """Colchester, Ipswich, Chelmsford, Sudbury, Halstead, Braintree, Witham, Clacton-on-Sea,
    Frinton-on-Sea, Harwich, Manningtree, Wivenhoe, Brightlingsea, Tiptree, Coggeshall,
    Kelvedon, Maldon, Burnham-on-Crouch, Southend-on-Sea, Leigh-on-Sea, Basildon, Billericay,
    Brentwood, Romford, Stowmarket, Bury St Edmunds, Haverhill, Hadleigh, Felixstowe,
    Woodbridge, Framlingham, Saxmundham, Aldeburgh, Lowestoft, Beccles, Diss, Thetford,
    Norwich, Great Yarmouth, King's Lynn, Cambridge, Ely, Newmarket, Saffron Walden,
    Bishop's Stortford, Stevenage, Hitchin, Luton, Bedford, Peterborough, Northampton,
    Leicester, Ashby-de-la-Zouch, Market Harborough, Nottingham, Mansfield,
    Sutton-in-Ashfield, Kirkby-in-Ashfield, Derby, Chapel-en-le-Frith, Buxton, Sheffield,
    Rotherham, Barnsley, Doncaster, Leeds, Bradford, Halifax, Huddersfield, Wakefield,
    Manchester, Salford, Stockport, Wigan, Bolton, Oldham, Rochdale, Liverpool, Birkenhead,
    Preston, Blackpool, Lancaster, Barrow-in-Furness, Kendal, Carlisle, Newcastle,
    Gateshead, Sunderland, Durham, Middlesbrough, Stockton-on-Tees, York, Harrogate,
    Scarborough, Hull, Grimsby, Lincoln, Boston, Stamford, Birmingham, Coventry, Wolverhampton,
    Walsall, Dudley, Stoke-on-Trent, Newcastle-under-Lyme, Stratford-upon-Avon, Worcester,
    Hereford, Ross-on-Wye, Gloucester, Cheltenham, Bristol, Bath, Bradford-on-Avon,
    Weston-super-Mare, Taunton, Exeter, Plymouth, Truro, Penzance, Oxford, Reading,
    Henley-on-Thames, Slough, Guildford, Woking, Crawley, Brighton, Eastbourne, Hastings,
    Canterbury, Margate, Dover, Maidstone, Tunbridge Wells, Southampton, Portsmouth,
    Bournemouth, Salisbury, Swindon, Cardiff, Swansea, Wrexham, Bangor, Glasgow, Edinburgh,
    Dundee, Aberdeen, Inverness, Belfast, Derry, Croydon, Hackney, Tottenham, Walthamstow,
    Ilford, Lewisham, Brixton, Peckham, Harrow, Wembley, Southall"""
)

VILLAGES = _lines(
    """Stoke-by-Nayland, Dedham, Lavenham, Kersey, Boxford, Nayland, Long Melford,
    Cavendish, Clare, Great Bentley, Little Clacton, Thorpe-le-Soken, Kirby-le-Soken,
    Mistley, Bradfield, Ardleigh, Langham, West Mersea, Rowhedge, Fingringhoe, Abberton,
    Layer de la Haye, Great Horkesley, Wormingford, Bures, Earls Colne, White Colne,
    Castle Hedingham, Sible Hedingham, Much Hadham, Much Wenlock, Chipping Campden,
    Bourton-on-the-Water, Moreton-in-Marsh, Walton-on-the-Naze, Wickham Market, Orford,
    Westleton, Walberswick, Blythburgh, Stradbroke, Eye, Debenham, Needham Market,
    Great Dunmow, Thaxted, Finchingfield, Wethersfield, Steeple Bumpstead, Hockley,
    Rayleigh, Great Wakering"""
)

COUNTIES = _lines(
    "Essex, Suffolk, Norfolk, Cambridgeshire, Hertfordshire, Kent, Lancashire, Yorkshire, "
    "West Yorkshire, Greater Manchester, Derbyshire, Devon, Cornwall, Surrey"
)

HELDOUT_PLACES = _lines(
    """Wigginton, Papworth Everard, Hemingford Grey, Houghton-le-Spring, Ashton-in-Makerfield,
    Bolton-le-Sands, Gussage All Saints, Sturminster Newton, Budleigh Salterton,
    Ottery St Mary, Ystradgynlais, Llanfairfechan, Auchtermuchty, Kirkcudbright,
    Ballymena, Newtownabbey, Barton-upon-Humber, Appleby-in-Westmorland, Clun,
    Tolleshunt D'Arcy, Tollesbury, Goldhanger, Stanway, Pebmarsh, Chappel"""
)

STREET_FIRST = _lines(
    """Jessica, Victoria, Albert, Alexandra, Edith, Florence, Harold, Gladys, Beatrice, Arthur,
    Church, Mill, Station, Queens, Kings, Oak, Elm, Ash, Beech, Willow, Chestnut, Meadow,
    Orchard, Park, Castle, Priory, Abbey, Bridge, Market, Harbour, Windmill, Cromwell, Nelson,
    Wellington, Tennyson, Shakespeare, Darwin, Constable, Gainsborough, Rosewood, Foxglove,
    Primrose, Bluebell, Lavender, Hawthorn, Cherry Tree, St Johns, St Marys, Greenstead,
    Hythe, Butt, Crouch, Maldon, Layer, Mersea, Ipswich, Cambridge, London"""
)
HELDOUT_STREET_FIRST = _lines(
    "Wrennery, Tilbury Holt, Marigold, Quillers, Samphire, Oystercatcher, Peverel, Kestrel"
)
STREET_KINDS = _lines(
    "Road, Street, Lane, Avenue, Close, Drive, Way, Crescent, Gardens, Grove, Terrace, Walk, "
    "Rise, Mews, Row, Hill, View, Place, Court, Chase"
)
BUILDINGS = _lines(
    "Rosewood Court, Kingfisher House, Mill Yard, The Maltings, Abbots Lodge, Elm Tree "
    "Cottage, Hollytree Farm, 2 The Old Forge, Rowan House, Wren Court, Nightingale Place"
)

POSTCODE_AREAS = _lines(
    "CO, IP, CM, SS, CB, NR, PE, LU, SG, AL, RM, E, N, SE, SW, W, B, M, L, LS, S, BD, HX, "
    "NE, DH, YO, HU, LN, NG, DE, LE, CV, WV, ST, GL, BS, BA, EX, PL, TR, OX, RG, GU, RH, BN, "
    "CT, ME, SO, PO, BH, CF, SA, G, EH, DD, AB, BT, WN, OL, BL, PR, FY, LA, CA"
)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def postcode(rng: random.Random) -> str:
    """A well-formed UK postcode (area, district, sector, unit)."""
    area = rng.choice(POSTCODE_AREAS)
    district = str(rng.randint(1, 29 if len(area) == 2 else 19))
    if len(area) == 1 and rng.random() < 0.2:
        district = str(rng.randint(1, 9)) + rng.choice("ABCDEFGHJKPSTUW")
    unit = rng.choice(_INWARD_LETTERS) + rng.choice(_INWARD_LETTERS)
    return f"{area}{district} {rng.randint(0, 9)}{unit}"


class PlacePool:
    """Draws places; held-out mode mixes in held-out-only towns and streets."""

    def __init__(self, rng: random.Random, heldout: bool) -> None:
        self.rng = rng
        self.heldout = heldout

    def town(self) -> str:
        if self.heldout and self.rng.random() < 0.3:
            return self.rng.choice(HELDOUT_PLACES)
        return self.rng.choice(TOWNS if self.rng.random() < 0.7 else VILLAGES)

    def county(self) -> str:
        return self.rng.choice(COUNTIES)

    def street(self) -> str:
        first = STREET_FIRST
        if self.heldout and self.rng.random() < 0.3:
            first = HELDOUT_STREET_FIRST
        return f"{self.rng.choice(first)} {self.rng.choice(STREET_KINDS)}"

    def street_line(self) -> str:
        """A house number and street, sometimes with a flat or a suffix letter."""
        number = str(self.rng.randint(1, 240))
        if self.rng.random() < 0.1:
            number += self.rng.choice("abAB")
        line = f"{number} {self.street()}"
        if self.rng.random() < 0.15:
            line = f"Flat {self.rng.randint(1, 30)}, {line}"
        return line

    def address_block(self) -> list[Ident]:
        """Each part on its own line: [building], street, [village], town, [county], postcode."""
        rows: list[Ident] = []
        if self.rng.random() < 0.2:
            rows.append(Ident(self.rng.choice(BUILDINGS), "ADDRESS"))
        rows.append(Ident(self.street_line(), "ADDRESS"))
        if self.rng.random() < 0.35:
            rows.append(Ident(self.rng.choice(VILLAGES), "LOCATION"))
        rows.append(Ident(self.town(), "LOCATION"))
        if self.rng.random() < 0.4:
            rows.append(Ident(self.county(), "LOCATION"))
        rows.append(Ident(postcode(self.rng), "POSTCODE"))
        return rows

    def address_inline(self) -> list[Ident | str]:
        """``12 Mill Lane, Dedham, CO7 6AB`` with a span per part."""
        return [
            Ident(self.street_line(), "ADDRESS"),
            ", ",
            Ident(self.town(), "LOCATION"),
            ", ",
            Ident(postcode(self.rng), "POSTCODE"),
        ]


# ---------------------------------------------------------------------- organisations
def gp_practice(rng: random.Random, places: PlacePool, surname: str) -> str:
    """A GP practice name in one of the usual shapes."""
    town = places.town()
    return rng.choice(
        (
            f"Dr {surname} and Partners",
            f"Dr {surname} & Partners",
            f"{town} Surgery",
            f"{town} Medical Centre",
            f"{town} Health Centre",
            f"The {surname} Practice",
            f"{rng.choice(STREET_FIRST)} Surgery",
            f"{rng.choice(STREET_FIRST)} Medical Group",
        )
    )


CARE_HOMES = _lines(
    "Rosewood House Care Home, Abbeyfield Lodge, Kingsley Court Nursing Home, The Cedars "
    "Residential Home, Lavender Fields Care Centre, St Clare's Nursing Home, Oak Lodge, "
    "Primrose Hill Care Home, Cherry Trees Residential Home, Heathfield Manor"
)
SCHOOLS = _lines(
    "Gilberd School, Thomas Lord Audley School, Philip Morant Academy, St Helena School, "
    "Little Acorns Nursery, Busy Bees Nursery, Tiptree Heath Primary School, "
    "St Teresa's Catholic Primary, Hamilton Primary School, Colne Community School, "
    "Paxman Academy, Tendring Technology College, Sunshine Day Nursery"
)
EMPLOYERS = _lines(
    "Tesco, Sainsbury's, Royal Mail, Amazon, Anglian Water, Network Rail, Hutchison Ports, "
    "Co-op, University of Essex, Aldi, Greggs, Argos, Colchester Garrison, "
    "Jewson, Screwfix, B&Q, Morrisons, Stagecoach, DHL, Ocado"
)
CHARITIES = _lines(
    "Age UK Essex, Mind in Colchester, Citizens Advice Ipswich, Headway Suffolk, "
    "Next Chapter, Women's Aid, Alzheimer's Society, Macmillan Cancer Support, "
    "Carers First, Open Road, Turning Point, SEAP Advocacy, Samaritans, St Helena Hospice"
)
COUNCILS = _lines(
    "Essex County Council, Suffolk County Council, Colchester City Council, Tendring District "
    "Council, Babergh District Council, Norfolk County Council, Braintree District Council"
)
HOSPITALS = _lines(
    "Ipswich Hospital, Broomfield Hospital, Addenbrooke's, Royal Papworth Hospital, "
    "Norfolk and Norwich University Hospital, Southend Hospital, Basildon Hospital, "
    "West Suffolk Hospital, Great Ormond Street, Royal Brompton, Queen's Hospital Romford, "
    "St Thomas'"
)
HELDOUT_ORGS = {
    "care_home": _lines("Marigold Meadows Care Village, Wrabness House"),
    "school": _lines("Brambles Children's Centre, Kestrel Academy, Stourside Primary School"),
    "employer": _lines("Stour Valley Logistics, Harwich Haven Authority, Pevensey Foods"),
    "charity": _lines("Stour Valley Food Bank, Wrabness Community Hub, Wivenhoe Good Neighbours"),
    "council": _lines("Uttlesford District Council, Mid Suffolk District Council"),
    "hospital": _lines("Clacton Hospital, Fryatt Hospital, Aldeburgh Community Hospital"),
}


def organisation(rng: random.Random, kind: str, heldout: bool) -> str:
    """An organisation of ``kind`` (care_home, school, employer, charity, council, hospital)."""
    if heldout and rng.random() < 0.2:
        return rng.choice(HELDOUT_ORGS[kind])
    pool = {
        "care_home": CARE_HOMES,
        "school": SCHOOLS,
        "employer": EMPLOYERS,
        "charity": CHARITIES,
        "council": COUNCILS,
        "hospital": HOSPITALS,
    }[kind]
    return rng.choice(pool)
